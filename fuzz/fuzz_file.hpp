// fuzz/fuzz_file.hpp — what the harnesses share: a scratch file that holds the current input (for
// the readers that take a path) and the limits that keep megabyte inputs cheap.
//
// The scratch file lives in $CTNN_FUZZ_TMP when set (fuzz/run.sh points it at its temporary
// directory), else in /dev/shm when it exists, else in the system's temporary directory; it is
// named after the process id and removed when the process exits normally.
#pragma once
#include <ctnn/io/limits.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace ctnn_fuzz {

/// The readers' limits under fuzzing: 16 MiB of content (after gzip decompression) instead of
/// 1 GiB, so that a gzip bomb or a header announcing gigabytes costs at most tens of megabytes
/// and milliseconds per input (libFuzzer's -rss_limit_mb and -timeout would flag more).
inline ctnn::io::ReadLimits limits() {
    ctnn::io::ReadLimits l;
    l.max_bytes = std::uint64_t{16} << 20;
    return l;
}

/// A file that holds the current input; one per process and suffix.
class ScratchFile {
public:
    explicit ScratchFile(const std::string& suffix) : path_(dir() / name(suffix)) {}
    ~ScratchFile() {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;

    /// Replaces the file's content with `size` bytes from `data`; aborts if that fails (a broken
    /// harness, not a finding).
    const std::filesystem::path& write(const void* data, std::size_t size) const {
        std::FILE* f = std::fopen(path_.c_str(), "wb");
        if (f == nullptr) std::abort();
        if (size != 0 && std::fwrite(data, 1, size, f) != size) std::abort();
        if (std::fclose(f) != 0) std::abort();
        return path_;
    }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    static std::filesystem::path dir() {
        if (const char* d = std::getenv("CTNN_FUZZ_TMP"); d != nullptr && *d != '\0') return d;
        std::error_code ec;
        const std::filesystem::path shm = "/dev/shm";
        return std::filesystem::is_directory(shm, ec) ? shm
                                                      : std::filesystem::temp_directory_path();
    }
    static std::string name(const std::string& suffix) {
        return "ctnn_fuzz_" + std::to_string(::getpid()) + suffix;
    }

    std::filesystem::path path_;
};

} // namespace ctnn_fuzz
