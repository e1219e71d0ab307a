// ctnn/io/detail/file.hpp — whole-file reads (plain or gzip) and atomic file replacement.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../limits.hpp"
#include "gzip.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

// POSIX file descriptors for AtomicFileWriter: fchmod, fsync of the file and of its directory,
// renameat, and on Linux O_TMPFILE + linkat. Elsewhere the writer falls back to <cstdio> and
// <filesystem> (no fsync, no directory sync).
#if __has_include(<unistd.h>) && __has_include(<fcntl.h>) && __has_include(<sys/stat.h>)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define CTNN_IO_POSIX 1
#else
#define CTNN_IO_POSIX 0
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

/// The content of a file, decompressed if it was gzip, possibly cut short.
struct FileData {
    std::vector<std::uint8_t> bytes; ///< the (decompressed) content; with `cut`, its first bytes
    bool gzip = false;               ///< true when the file was gzip-compressed
    bool cut = false; ///< reading stopped before the end of the content: the probe needed no more
    std::uint64_t size = unknown_size; ///< the full content's size where known (bytes.size()
                                       ///< unless cut; a cut plain file: its size on disk)
};

/// Reads a file's content into memory, at most max_bytes of it: the whole file, or with a probe
/// no more than the probe asks for (see read_target). gzip files (recognised by the magic bytes
/// 0x1f 0x8b) are decompressed; the compressed file is read whole and the probe applies to the
/// decompressed data. Throws io_error naming the file on any failure, and at offset max_bytes
/// when the content goes on past it (an endless stream such as /dev/zero, or a gzip bomb).
[[nodiscard]] inline FileData read_file_data(const std::filesystem::path& path,
                                             const ReadLimits& limits = {},
                                             SizeProbe probe = nullptr) {
    const std::string name = path.string();
    const std::uint64_t max_bytes = limits.max_bytes;
    FilePtr f = open_for_reading(path);
    // The size of a regular file is a hint (it may change while being read); streams have none.
    std::error_code ec;
    std::uint64_t hint = unknown_size;
    if (std::filesystem::is_regular_file(path, ec)) {
        const std::uintmax_t n = std::filesystem::file_size(path, ec);
        if (!ec) hint = n;
    }
    const auto to_size = [](std::uint64_t v) {
        return static_cast<std::size_t>(
            std::min<std::uint64_t>(v, std::numeric_limits<std::size_t>::max()));
    };
    const auto too_long = [&](const std::string& what) {
        throw io_error(name, max_bytes,
                       what + " the limit of " + std::to_string(max_bytes) +
                           " bytes (ReadLimits::max_bytes); an endless stream, or a file that "
                           "needs a higher limit?");
    };
    if (probe == nullptr && hint != unknown_size && hint > max_bytes)
        too_long("the file is " + std::to_string(hint) + " bytes long, more than");

    // One byte more than the expected size, so that a short read tells the end of the file at
    // once. With a probe the first 64 KiB come first: they hold the header that sizes the rest.
    FileData d;
    std::vector<std::uint8_t>& bytes = d.bytes;
    const std::uint64_t over = max_bytes == unknown_size ? max_bytes : max_bytes + 1;
    const std::uint64_t first = probe != nullptr || hint == unknown_size ? 1u << 16 : hint + 1;
    bytes.resize(to_size(std::min(first, over)));
    std::size_t size = 0;
    for (;;) {
        errno = 0;
        const std::size_t got = std::fread(bytes.data() + size, 1, bytes.size() - size, f.get());
        size += got;
        if (std::ferror(f.get()) != 0)
            throw io_error(name, size, std::string("read error: ") + errno_text(errno));
        if (size < bytes.size()) break; // short read: end of file
        // gzip data is read whole; its probe applies after decompression.
        const bool gzip = is_gzip({bytes.data(), size});
        if (gzip && hint != unknown_size && hint > max_bytes)
            too_long("the compressed file is " + std::to_string(hint) + " bytes long, more than");
        const ReadTarget target =
            read_target({bytes.data(), size}, gzip ? nullptr : probe, max_bytes, hint);
        if (size >= target.bytes) {
            if (!target.final) too_long("the file goes on past");
            d.cut = true;
            break;
        }
        std::size_t bigger = 0;
        if (!checked_mul(size, 2, bigger)) bigger = std::numeric_limits<std::size_t>::max();
        if (hint != unknown_size) bigger = std::max(bigger, to_size(hint + 1));
        bytes.resize(std::min(bigger, to_size(target.bytes)));
    }
    bytes.resize(size);
    if (is_gzip(bytes)) {
        Inflated plain = gunzip_bounded(bytes, name, max_bytes, probe);
        d.bytes = std::move(plain.bytes);
        d.cut = plain.cut;
        d.gzip = true;
        d.size = d.cut ? unknown_size : d.bytes.size();
    } else {
        d.size = d.cut ? hint : d.bytes.size();
    }
    return d;
}

/// Calls `read` and returns what it returns; std::bad_alloc and std::length_error (a container
/// too large for memory) become an io_error naming `file`, so that a reader reports running out
/// of memory like any other problem with the file. `file` is read when the error occurs: a
/// reader of several files points it at the current one.
template <class Read>
[[nodiscard]] decltype(auto) reporting_memory_errors(const std::string& file, Read&& read) {
    try {
        return std::forward<Read>(read)();
    } catch (const std::bad_alloc&) {
        throw io_error(file, "out of memory while reading the file (std::bad_alloc)");
    } catch (const std::length_error&) {
        throw io_error(file, "out of memory while reading the file (a size beyond what a "
                             "container can hold)");
    }
}

/// How long a temporary file of AtomicFileWriter's name pattern must have gone unmodified before a
/// later save of the same target deletes it as the leftover of a crashed or killed save. A live
/// writer modifies its temporary with every buffer it writes, and on Linux its temporary has no
/// name until the instant before the rename, so only a save stalled for this long (a stopped
/// process) can lose its temporary; its commit() then fails and the target stays unchanged.
inline constexpr std::chrono::minutes stale_temporary_age{15};

/// True when `name` is exactly the name AtomicFileWriter gives its temporaries of a file named
/// `target`: "." + target + ".tmp" + 16 lowercase hexadecimal digits.
[[nodiscard]] inline bool is_temporary_name(std::string_view name, std::string_view target) {
    constexpr std::string_view tmp = ".tmp";
    if (target.empty() || name.size() != 1 + target.size() + tmp.size() + 16) return false;
    if (name[0] != '.' || name.substr(1, target.size()) != target ||
        name.substr(1 + target.size(), tmp.size()) != tmp)
        return false;
    for (const char c : name.substr(1 + target.size() + tmp.size()))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

/// Deletes the stale temporaries of `target` in `dir`: regular files (not symlinks, not
/// directories) whose name is_temporary_name() and that were last modified more than
/// stale_temporary_age ago. Best effort: errors (another user's file, a race) are ignored.
inline void remove_stale_temporaries(const std::filesystem::path& dir,
                                     const std::string& target) noexcept {
    try {
        namespace fs = std::filesystem;
        const auto cutoff = fs::file_time_type::clock::now() - stale_temporary_age;
        std::error_code ec;
        for (fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end;
             !ec && it != end; it.increment(ec)) {
            if (!is_temporary_name(it->path().filename().string(), target)) continue;
            std::error_code e;
            if (it->symlink_status(e).type() != fs::file_type::regular || e) continue;
            const auto modified = fs::last_write_time(it->path(), e);
            if (!e && modified < cutoff) fs::remove(it->path(), e);
        }
    } catch (...) { // allocation failure: cleaning is only a courtesy
    }
}

/// The file a chain of symbolic links ends at (it need not exist); `path` itself when it is not a
/// link. Relative links count from the link's directory, as the kernel resolves them. Throws
/// io_error naming `name` for more than 40 links in a row (a loop) or an unreadable link.
[[nodiscard]] inline std::filesystem::path resolve_symlinks(std::filesystem::path path,
                                                            const std::string& name) {
    namespace fs = std::filesystem;
    for (int links = 0;; ++links) {
        std::error_code ec;
        if (fs::symlink_status(path, ec).type() != fs::file_type::symlink) return path;
        if (links == 40)
            throw io_error(name, "cannot write: too many levels of symbolic links (a loop?)");
        fs::path next = fs::read_symlink(path, ec);
        if (ec)
            throw io_error(name, std::string("cannot read the symbolic link '") + path.string() +
                                     "': " + ec.message());
        path = next.is_absolute() ? std::move(next) : path.parent_path() / next;
    }
}

#if CTNN_IO_POSIX
/// An owned POSIX file descriptor, closed at scope exit.
class UniqueFd {
public:
    UniqueFd() = default;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }
    /// Closes the descriptor held, if any, and takes `fd`.
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_ = -1;
};
#endif

/// Writes a file atomically: the content goes to a fresh temporary file in the target's directory,
/// which commit() flushes, syncs and renames over the target. Until commit() succeeds the target
/// is untouched; a writer destroyed without a successful commit() leaves no temporary behind.
///
/// - The temporary cannot outlive the process: on Linux it is created with O_TMPFILE (no name;
///   the kernel frees it when the process dies, even by SIGKILL) and given a name by linkat()
///   only in commit(), just before the rename. Elsewhere, or where the file system or /proc lacks
///   support, it is a named file ".<target>.tmp<16 hex digits>", removed by the destructor; one
///   left by a killed process is deleted by a later save of the same target once it is
///   stale_temporary_age old (never any other file).
/// - A symbolic link is followed: the file it resolves to is replaced, the link is kept.
/// - The replaced file's permission bits (and, where allowed, owner and group) are kept; a new
///   file gets 0666 less the umask.
/// - After the rename the directory is fsynced, so the new name survives a power loss.
class AtomicFileWriter {
public:
    /// Which temporary to use: anonymous (O_TMPFILE) where the system supports it, else named;
    /// or always named (to exercise the portable path in tests).
    enum class Temporary : std::uint8_t { anonymous_if_possible, named };

    /// Creates the temporary file; throws io_error naming the target when it cannot.
    explicit AtomicFileWriter(std::filesystem::path target,
                              Temporary kind = Temporary::anonymous_if_possible)
        : target_(std::move(target)), name_(target_.string()) {
        path_ = resolve_symlinks(target_, name_);
        std::error_code ec;
        if (std::filesystem::is_directory(path_, ec))
            throw io_error(name_, "cannot write: the path is a directory");
        base_ = path_.filename().string();
        if (base_.empty() || base_ == "." || base_ == "..")
            throw io_error(name_, "cannot write: the path does not name a file");
        dir_ = path_.parent_path();
        remove_stale_temporaries(dir_, base_);
#if CTNN_IO_POSIX
        dir_fd_.reset(::open(dir_text().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir_fd_.get() < 0) cannot_create(errno); // (reset of an empty UniqueFd keeps errno)
        int fd = -1;
#ifdef O_TMPFILE
        if (kind == Temporary::anonymous_if_possible) {
            fd = ::openat(dir_fd_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
            // commit() names the file by linking /proc/self/fd/<fd>; without /proc, use a name.
            if (fd >= 0 && ::access(proc_fd_path(fd).c_str(), F_OK) != 0) {
                ::close(fd);
                fd = -1;
            }
            anonymous_ = fd >= 0;
        }
#else
        (void)kind;
#endif
        for (int attempt = 0; fd < 0; ++attempt) {
            temp_ = fresh_temp_name();
            fd = ::openat(dir_fd_.get(), temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                          0666);
            if (fd >= 0) break;
            const int err = errno;
            temp_.clear();
            if (err == EEXIST && attempt < 100) continue;
            cannot_create(err);
        }
        errno = 0;
        std::FILE* f = ::fdopen(fd, "wb");
        if (f == nullptr) {
            const int err = errno;
            ::close(fd);
            if (!temp_.empty()) ::unlinkat(dir_fd_.get(), temp_.c_str(), 0);
            temp_.clear();
            cannot_create(err);
        }
        file_.reset(f);
#else
        (void)kind;
        for (int attempt = 0;; ++attempt) {
            temp_ = fresh_temp_name();
            errno = 0;
            std::FILE* f = std::fopen((dir_ / temp_).string().c_str(), "wbx"); // x: fail if exists
            if (f != nullptr) {
                file_.reset(f);
                break;
            }
            const int err = errno;
            temp_.clear();
            if (err == EEXIST && attempt < 100) continue;
            cannot_create(err);
        }
#endif
    }
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    ~AtomicFileWriter() {
        file_.reset();
        if (!committed_ && !temp_.empty()) {
#if CTNN_IO_POSIX
            ::unlinkat(dir_fd_.get(), temp_.c_str(), 0);
#else
            std::error_code ec;
            std::filesystem::remove(dir_ / temp_, ec);
#endif
        }
    }

    /// Appends n bytes; throws io_error naming the target on a write error (e.g. disk full).
    void write(const void* data, std::size_t n) {
        if (n == 0) return;
        errno = 0;
        if (std::fwrite(data, 1, n, file_.get()) != n)
            fail(std::string("write failed after ") + std::to_string(written_) + " bytes", errno);
        written_ += n;
    }

    /// Flushes the temporary file, gives it the replaced file's mode, syncs and closes it, renames
    /// it over the target and syncs the directory. Throws io_error naming the target on failure;
    /// up to the rename, the previous file is then unchanged.
    void commit() {
        errno = 0;
        if (std::fflush(file_.get()) != 0 || std::ferror(file_.get()) != 0)
            fail("write failed", errno);
#if CTNN_IO_POSIX
        const int fd = ::fileno(file_.get());
        keep_mode_and_owner(fd);
        if (::fsync(fd) != 0) fail("fsync failed", errno);
        if (anonymous_) link_anonymous(fd);
        errno = 0;
        if (std::fclose(file_.release()) != 0) fail("closing the file failed", errno);
        if (::renameat(dir_fd_.get(), temp_.c_str(), dir_fd_.get(), base_.c_str()) != 0)
            fail("cannot replace the file", errno);
        committed_ = true;
        // The rename is only durable once the directory is; EINVAL: no sync for directories here.
        if (::fsync(dir_fd_.get()) != 0) {
            const int err = errno;
            if (err != EINVAL)
                throw io_error(name_,
                               std::string("the file was replaced, but syncing directory '") +
                                   dir_text() + "' failed: " + errno_text(err));
        }
#else
        errno = 0;
        if (std::fclose(file_.release()) != 0) fail("closing the file failed", errno);
        std::error_code ec;
        const auto st = std::filesystem::status(path_, ec);
        if (!ec && st.type() == std::filesystem::file_type::regular)
            std::filesystem::permissions(dir_ / temp_, st.permissions(), ec);
        std::filesystem::rename(dir_ / temp_, path_, ec);
        if (ec)
            throw io_error(name_, std::string("cannot replace the file: ") + ec.message() +
                                      " (the previous file, if any, is unchanged)");
        committed_ = true;
#endif
    }

    /// Bytes written so far.
    [[nodiscard]] std::size_t written() const noexcept { return written_; }
    /// True when the temporary file has no name (O_TMPFILE): it vanishes if the process dies.
    [[nodiscard]] bool anonymous() const noexcept { return anonymous_; }

private:
    [[noreturn]] void fail(const std::string& what, int err) const {
        throw io_error(name_, what +
                                  (err != 0 ? std::string(": ") + errno_text(err) : std::string()) +
                                  " (the previous file, if any, is unchanged)");
    }
    [[noreturn]] void cannot_create(int err) const {
        throw io_error(name_, std::string("cannot create a temporary file in directory '") +
                                  dir_text() + std::string("': ") + errno_text(err));
    }
    [[nodiscard]] std::string dir_text() const { return dir_.empty() ? "." : dir_.string(); }

    /// A new name ".<target>.tmp<16 hex digits>" (is_temporary_name), unique with high odds.
    [[nodiscard]] std::string fresh_temp_name() const {
        static std::atomic<std::uint64_t> counter{0};
        const auto now =
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        std::uint64_t tag =
            (now * 0x9e3779b97f4a7c15ull) ^ (counter.fetch_add(1) + 0x632be59bd9b4e019ull);
#if CTNN_IO_POSIX
        tag ^= static_cast<std::uint64_t>(::getpid()) << 40;
#endif
        return std::string(".") + base_ + ".tmp" + to_hex(tag);
    }
    static std::string to_hex(std::uint64_t v) {
        constexpr char digits[] = "0123456789abcdef";
        std::string s(16, '0');
        for (std::size_t i = 16; i-- > 0; v >>= 4) s[i] = digits[v & 0xfu];
        return s;
    }

#if CTNN_IO_POSIX
    static std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

    /// Gives the temporary the permission bits, owner and group of the file it replaces, if any.
    /// The owner and group are best effort (only a privileged process may give a file away); the
    /// permission bits must stick, lest a private checkpoint become readable by others.
    void keep_mode_and_owner(int fd) const {
        struct ::stat old {};
        if (::fstatat(dir_fd_.get(), base_.c_str(), &old, 0) != 0 || !S_ISREG(old.st_mode)) return;
        struct ::stat mine {};
        if (::fstat(fd, &mine) == 0 && (mine.st_uid != old.st_uid || mine.st_gid != old.st_gid))
            (void)!::fchown(fd, old.st_uid, old.st_gid);
        if (::fchmod(fd, old.st_mode & 0777) != 0)
            fail("cannot give the new file the mode of the old one", errno);
    }

    /// Gives the anonymous temporary a fresh name in the directory, for the rename. (linkat cannot
    /// replace an existing name, so it cannot link to the target itself.)
    void link_anonymous(int fd) {
        const std::string from = proc_fd_path(fd);
        for (int attempt = 0;; ++attempt) {
            std::string name = fresh_temp_name();
            if (::linkat(AT_FDCWD, from.c_str(), dir_fd_.get(), name.c_str(), AT_SYMLINK_FOLLOW) ==
                0) {
                temp_ = std::move(name);
                return;
            }
            const int err = errno;
            if (err == EEXIST && attempt < 100) continue;
            fail("cannot link the temporary file into its directory", err);
        }
    }
#endif

    std::filesystem::path target_; // as given (maybe a symlink)
    std::string name_;             // target_ for messages
    std::filesystem::path path_;   // the file replaced: target_ with symlinks resolved
    std::filesystem::path dir_;    // path_'s directory ("" for the current one)
    std::string base_;             // path_'s file name
    std::string temp_;             // the temporary's name in dir_; empty while it has none
    FilePtr file_;
#if CTNN_IO_POSIX
    UniqueFd dir_fd_; // dir_, for openat, linkat, renameat and the directory's fsync
#endif
    std::size_t written_ = 0;
    bool anonymous_ = false;
    bool committed_ = false;
};

} // namespace ctnn::io::detail
