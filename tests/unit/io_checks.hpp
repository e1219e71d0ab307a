// Test helpers shared by the IO tests (io.cpp, io_limits.cpp, csv.cpp, checkpoint.cpp): a fresh
// temporary directory per test, small file writers and IDX builders, a directory listing, a
// temporary file-size limit (a full disk), and CHECK_IO_ERROR, which checks that an expression
// throws a ctnn::io_error naming a file and containing given fragments.
#pragma once
#include <ctnn/core/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define CTNN_IO_CHECKS_HAS_GETPID 1
#else
#define CTNN_IO_CHECKS_HAS_GETPID 0
#endif
#if __has_include(<sys/resource.h>)
#include <csignal>
#include <sys/resource.h>
#define CTNN_IO_CHECKS_HAS_RLIMIT 1
#else
#define CTNN_IO_CHECKS_HAS_RLIMIT 0
#endif

namespace ctnn::test {

/// The test area's scratch directory: $CTNN_TEST_TMPDIR (set by ctest) when set and not empty,
/// else the system's temporary directory.
inline std::filesystem::path test_tmpdir() {
    const char* root = std::getenv("CTNN_TEST_TMPDIR");
    return root != nullptr && *root != '\0' ? std::filesystem::path(root)
                                            : std::filesystem::temp_directory_path();
}

/// A fresh, empty directory `<root>/<prefix><pid>_<stamp>_<counter>`, removed with its content at
/// scope exit. Owner permissions are restored first, so that a test may leave it read-only.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(std::string_view prefix,
                     const std::filesystem::path& root = std::filesystem::temp_directory_path()) {
        static std::atomic<int> counter{0};
        const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
#if CTNN_IO_CHECKS_HAS_GETPID
        const std::string pid = std::to_string(::getpid()) + "_";
#else
        const std::string pid;
#endif
        path = root / (std::string(prefix) + pid + std::to_string(stamp) + "_" +
                       std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

/// Writes `b` to `p`, replacing its content.
inline void write_bytes(const std::filesystem::path& p, const std::vector<std::uint8_t>& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    REQUIRE(out.good());
}

/// Writes `s` to `p` as is (binary), replacing its content.
inline void write_text(const std::filesystem::path& p, std::string_view s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
    REQUIRE(out.good());
}

inline bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

using Bytes = std::vector<std::uint8_t>;

/// Appends v as `nbytes` big-endian bytes (IDX's byte order).
inline void put_be(Bytes& b, std::uint64_t v, int nbytes) {
    for (int i = nbytes - 1; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// An IDX header: magic (0, 0, data type, rank), then each dimension as a big-endian u32.
inline Bytes idx_header(std::uint8_t dtype, const std::vector<std::uint32_t>& dims) {
    Bytes b{0, 0, dtype, static_cast<std::uint8_t>(dims.size())};
    for (const std::uint32_t d : dims) put_be(b, d, 4);
    return b;
}

/// The names of the entries of a directory, sorted.
inline std::vector<std::string> dir_entries(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

#if CTNN_IO_CHECKS_HAS_RLIMIT
/// While it lives, files of this process cannot grow past `bytes` (RLIMIT_FSIZE, SIGXFSZ
/// ignored, so a write past it fails with EFBIG): a full disk, also when running as root.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) : old_handler_(std::signal(SIGXFSZ, SIG_IGN)) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_) == 0);
        rlimit small = old_;
        small.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    ~FileSizeLimit() {
        CHECK(::setrlimit(RLIMIT_FSIZE, &old_) == 0);
        std::signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit old_{};
    void (*old_handler_)(int);
};
#endif

} // namespace ctnn::test

/// Checks that `expr` throws ctnn::io_error whose message names `file` and contains every one of
/// the following strings.
#define CHECK_IO_ERROR(expr, file, ...)                                                            \
    do {                                                                                           \
        std::string msg_;                                                                          \
        bool thrown_ = false;                                                                      \
        try {                                                                                      \
            (void)(expr);                                                                          \
        } catch (const ctnn::io_error& e_) {                                                       \
            thrown_ = true;                                                                        \
            msg_ = e_.what();                                                                      \
        }                                                                                          \
        CHECK_MESSAGE(thrown_, "expected ctnn::io_error from: " #expr);                            \
        if (thrown_) {                                                                             \
            INFO("message: " << msg_);                                                             \
            CHECK(::ctnn::test::contains(msg_, std::filesystem::path(file).string()));             \
            for (const std::string& frag_ : std::initializer_list<std::string>{__VA_ARGS__})       \
                CHECK_MESSAGE(::ctnn::test::contains(msg_, frag_),                                 \
                              "expected in the message: " << frag_);                               \
        }                                                                                          \
    } while (0)
