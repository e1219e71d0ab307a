// ctnn/io/detail/file.hpp — whole-file reads (plain or gzip) and atomic file replacement.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "gzip.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define CTNN_IO_HAVE_FSYNC 1
#else
#define CTNN_IO_HAVE_FSYNC 0
#endif

namespace ctnn::io::detail {

/// Closes a C stream when it goes out of scope.
struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
/// An owned C stream.
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

/// The text of the current errno, for error messages.
[[nodiscard]] inline std::string errno_text(int err) { return std::strerror(err); }

/// Opens an existing regular file for binary reading; throws io_error naming the file when it
/// does not exist, is a directory or cannot be opened.
[[nodiscard]] inline FilePtr open_for_reading(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (st.type() == std::filesystem::file_type::not_found)
        throw io_error(name, "cannot open: no such file");
    if (st.type() == std::filesystem::file_type::directory)
        throw io_error(name, "cannot open: is a directory, not a file");
    errno = 0;
    std::FILE* f = std::fopen(name.c_str(), "rb");
    if (f == nullptr) throw io_error(name, std::string("cannot open: ") + errno_text(errno));
    return FilePtr(f);
}

/// Reads `n` bytes into `dst`; throws io_error naming the file and `offset` when the file ends
/// early or a read error occurs.
inline void read_exact(std::FILE* f, void* dst, std::size_t n, const std::string& name,
                       std::uint64_t offset) {
    if (n == 0) return;
    errno = 0;
    const std::size_t got = std::fread(dst, 1, n, f);
    if (got == n) return;
    if (std::ferror(f) != 0)
        throw io_error(name, offset + got, std::string("read error: ") + errno_text(errno));
    throw io_error(name, offset + got,
                   std::string("file ends early (expected ") + std::to_string(n) +
                       " bytes from offset " + std::to_string(offset) +
                       "); was it truncated while being read?");
}

/// Reads a whole file into memory in bulk. Throws io_error naming the file on any failure.
[[nodiscard]] inline std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
    const std::string name = path.string();
    FilePtr f = open_for_reading(path);
    std::error_code ec;
    const std::uintmax_t hint = std::filesystem::file_size(path, ec);
    // One byte more than the expected size, so that a short read tells end of file at once. The
    // size is only a hint (the file may change, or be a pipe): on a full read, read on.
    std::vector<std::uint8_t> bytes(ec ? std::size_t{1} << 16 : static_cast<std::size_t>(hint) + 1);
    std::size_t size = 0;
    for (;;) {
        errno = 0;
        const std::size_t got = std::fread(bytes.data() + size, 1, bytes.size() - size, f.get());
        size += got;
        if (std::ferror(f.get()) != 0)
            throw io_error(name, size, std::string("read error: ") + errno_text(errno));
        if (size < bytes.size()) break; // short read: end of file
        bytes.resize(bytes.size() * 2);
    }
    bytes.resize(size);
    return bytes;
}

/// The content of a file, decompressed if it was gzip.
struct FileData {
    std::vector<std::uint8_t> bytes; ///< the (decompressed) content
    bool gzip = false;               ///< true when the file was gzip-compressed
};

/// Reads a whole file; gzip files (recognised by the magic bytes 0x1f 0x8b) are decompressed.
[[nodiscard]] inline FileData read_file_data(const std::filesystem::path& path) {
    FileData d;
    d.bytes = read_file(path);
    if (is_gzip(d.bytes)) {
        d.bytes = gunzip(d.bytes, path.string());
        d.gzip = true;
    }
    return d;
}

/// Writes a file atomically: the content goes to a fresh temporary file next to the target, which
/// commit() flushes, syncs and renames over the target. Until commit() succeeds the target is
/// untouched; a writer destroyed without a successful commit() removes its temporary file.
class AtomicFileWriter {
public:
    /// Creates the temporary file; throws io_error naming the target when it cannot.
    explicit AtomicFileWriter(std::filesystem::path target)
        : target_(std::move(target)), name_(target_.string()) {
        std::error_code ec;
        if (std::filesystem::is_directory(target_, ec))
            throw io_error(name_, "cannot write: the path is a directory");
        const std::filesystem::path dir = target_.parent_path();
        static std::atomic<std::uint64_t> counter{0};
        for (int attempt = 0;; ++attempt) {
            const auto now = static_cast<std::uint64_t>(
                std::chrono::steady_clock::now().time_since_epoch().count());
            const std::uint64_t tag =
                (now * 0x9e3779b97f4a7c15ull) ^ (counter.fetch_add(1) + 0x632be59bd9b4e019ull);
            temp_ = dir / (std::string(".") + target_.filename().string() + ".tmp" + to_hex(tag));
            errno = 0;
            std::FILE* f = std::fopen(temp_.string().c_str(), "wbx"); // x: fail if it exists
            if (f != nullptr) {
                file_.reset(f);
                break;
            }
            const int err = errno;
            if (err == EEXIST && attempt < 100) continue;
            const std::string where = dir.empty() ? std::string(".") : dir.string();
            throw io_error(name_, std::string("cannot create a temporary file in directory '") +
                                      where + std::string("': ") + errno_text(err));
        }
    }
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    ~AtomicFileWriter() {
        if (committed_) return;
        file_.reset();
        std::error_code ec;
        std::filesystem::remove(temp_, ec);
    }

    /// Appends n bytes; throws io_error naming the target on a write error (e.g. disk full).
    void write(const void* data, std::size_t n) {
        if (n == 0) return;
        errno = 0;
        if (std::fwrite(data, 1, n, file_.get()) != n)
            fail(std::string("write failed after ") + std::to_string(written_) + " bytes", errno);
        written_ += n;
    }

    /// Flushes, syncs and closes the temporary file, then renames it over the target.
    void commit() {
        errno = 0;
        if (std::fflush(file_.get()) != 0 || std::ferror(file_.get()) != 0)
            fail("write failed", errno);
#if CTNN_IO_HAVE_FSYNC
        if (::fsync(::fileno(file_.get())) != 0) fail("fsync failed", errno);
#endif
        errno = 0;
        const int rc = std::fclose(file_.release());
        if (rc != 0) fail("closing the file failed", errno);
        std::error_code ec;
        std::filesystem::rename(temp_, target_, ec);
        if (ec) throw io_error(name_, std::string("cannot replace the file: ") + ec.message());
        committed_ = true;
    }

    /// Bytes written so far.
    [[nodiscard]] std::size_t written() const noexcept { return written_; }

private:
    [[noreturn]] void fail(const std::string& what, int err) const {
        throw io_error(name_, what +
                                  (err != 0 ? std::string(": ") + errno_text(err) : std::string()) +
                                  " (the previous file, if any, is unchanged)");
    }
    static std::string to_hex(std::uint64_t v) {
        constexpr char digits[] = "0123456789abcdef";
        std::string s(16, '0');
        for (std::size_t i = 16; i-- > 0; v >>= 4) s[i] = digits[v & 0xfu];
        return s;
    }

    std::filesystem::path target_;
    std::string name_;
    std::filesystem::path temp_;
    FilePtr file_;
    std::size_t written_ = 0;
    bool committed_ = false;
};

} // namespace ctnn::io::detail
