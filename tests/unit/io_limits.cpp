// tests/unit/io_limits.cpp — the IO readers against hostile and endless input: gzip bombs, IDX
// headers announcing more than the size limit, endless streams (/dev/zero, a FIFO), amplified
// safetensors headers, non-finite IDX floats, and running out of memory (ctnn::io::ReadLimits).
//
// Every reproducer is built here, in a fresh directory under $CTNN_TEST_TMPDIR (the system's
// temporary directory when unset). A reader must fail with a ctnn::io_error naming the file and the
// offset, quickly and without touching much memory: where the platform reports the peak resident
// set size, the tests check that a rejected bomb raised it by less than 100 MB.
#include <ctnn/io.hpp>

#include "io_checks.hpp"

#include <doctest/doctest.h>

#if defined(CTNN_HAS_ZLIB) && CTNN_HAS_ZLIB
#include <zlib.h>
#define CTNN_IO_TEST_ZLIB 1
#else
#define CTNN_IO_TEST_ZLIB 0
#endif

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <csignal>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#define CTNN_TEST_LINUX 1
#else
#define CTNN_TEST_LINUX 0
#endif

// ---------------------------------------------------------------------------------------------
// Allocation failure on demand: while fail_allocations_from is non-zero, every allocation of at
// least that many bytes throws std::bad_alloc, as under a memory limit (ulimit -v, a cgroup).
// ---------------------------------------------------------------------------------------------

namespace {
std::atomic<std::size_t> fail_allocations_from{0};
} // namespace

// Kept out of line: GCC would otherwise inline them and take their malloc/free for a mismatch
// with operator new/delete (-Wmismatched-new-delete).
#if defined(__GNUC__)
#define CTNN_TEST_NOINLINE __attribute__((noinline))
#else
#define CTNN_TEST_NOINLINE
#endif

CTNN_TEST_NOINLINE void* operator new(std::size_t n) {
    const std::size_t from = fail_allocations_from.load(std::memory_order_relaxed);
    if (from != 0 && n >= from) throw std::bad_alloc();
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
CTNN_TEST_NOINLINE void* operator new[](std::size_t n) { return ::operator new(n); }
CTNN_TEST_NOINLINE void operator delete(void* p) noexcept { std::free(p); }
CTNN_TEST_NOINLINE void operator delete[](void* p) noexcept { std::free(p); }
CTNN_TEST_NOINLINE void operator delete(void* p, std::size_t) noexcept { std::free(p); }
CTNN_TEST_NOINLINE void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
// The nothrow forms too (std::stable_sort uses them), so that every plain new/delete pair is ours
// (AddressSanitizer checks that they match).
CTNN_TEST_NOINLINE void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return ::operator new(n);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
CTNN_TEST_NOINLINE void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return ::operator new(n, std::nothrow);
}
CTNN_TEST_NOINLINE void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
CTNN_TEST_NOINLINE void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using ctnn::test::Bytes;
using ctnn::test::idx_header;
using ctnn::test::put_be;
using ctnn::test::TempDir;
using ctnn::test::test_tmpdir;
using ctnn::test::write_bytes;

/// Makes allocations of `bytes` or more fail while it lives.
struct FailLargeAllocations {
    explicit FailLargeAllocations(std::size_t bytes) { fail_allocations_from = bytes; }
    FailLargeAllocations(const FailLargeAllocations&) = delete;
    FailLargeAllocations& operator=(const FailLargeAllocations&) = delete;
    ~FailLargeAllocations() { fail_allocations_from = 0; }
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The peak resident set size of this process in bytes; 0 where it is unknown. A peak that grew
/// by less than X across a call proves the call held less than X more than before it.
std::size_t peak_rss() {
#if CTNN_TEST_LINUX
    struct rusage u {};
    if (::getrusage(RUSAGE_SELF, &u) == 0) return static_cast<std::size_t>(u.ru_maxrss) * 1024;
#endif
    return 0;
}

constexpr std::size_t rss_budget = 100u << 20; // the issue's bound for a rejected bomb

// ---- IDX builders ----------------------------------------------------------------------------

Bytes idx_f32(const std::vector<std::uint32_t>& dims, std::initializer_list<float> values) {
    Bytes b = idx_header(0x0D, dims);
    for (const float v : values) put_be(b, std::bit_cast<std::uint32_t>(v), 4);
    return b;
}

#if CTNN_IO_TEST_ZLIB
void append(Bytes& to, const Bytes& b) { to.insert(to.end(), b.begin(), b.end()); }

/// One gzip member holding `prefix` followed by `zeros` zero bytes. A run of zeros compresses
/// about 1000:1, so a few such members make a bomb of any size.
Bytes gzip_member(const Bytes& prefix, std::size_t zeros = 0) {
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_RLE) == Z_OK);
    Bytes out;
    std::vector<std::uint8_t> chunk(1u << 16);
    const Bytes block(1u << 20, 0);
    const auto pump = [&](const std::uint8_t* data, std::size_t n, int flush) {
        zs.next_in = const_cast<Bytef*>(data);
        zs.avail_in = static_cast<uInt>(n);
        int rc = Z_OK;
        do {
            zs.next_out = chunk.data();
            zs.avail_out = static_cast<uInt>(chunk.size());
            rc = deflate(&zs, flush);
            REQUIRE(rc != Z_STREAM_ERROR);
            out.insert(out.end(), chunk.begin(),
                       chunk.begin() + static_cast<std::ptrdiff_t>(chunk.size() - zs.avail_out));
        } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    };
    pump(prefix.data(), prefix.size(), Z_NO_FLUSH);
    for (std::size_t left = zeros; left > 0;) {
        const std::size_t n = left < block.size() ? left : block.size();
        pump(block.data(), n, Z_NO_FLUSH);
        left -= n;
    }
    pump(nullptr, 0, Z_FINISH);
    deflateEnd(&zs);
    return out;
}

/// `prefix` and then `zero_members` members of 64 MiB of zeros each (cat a.gz b.gz ... makes
/// one stream): 2 MB of gzip for 2 GiB of data with 32 members.
Bytes gzip_bomb(const Bytes& prefix, std::size_t zero_members) {
    Bytes bomb = gzip_member(prefix);
    const Bytes zeros = gzip_member({}, std::size_t{64} << 20);
    for (std::size_t i = 0; i < zero_members; ++i) append(bomb, zeros);
    return bomb;
}
#endif

// ---- safetensors builders --------------------------------------------------------------------

/// A safetensors file from a header text and a data buffer.
Bytes st_file(const std::string& header, const Bytes& data) {
    Bytes b(8 + header.size() + data.size());
    ctnn::io::detail::store_le<std::uint64_t>(b.data(), header.size());
    std::copy(header.begin(), header.end(), b.begin() + 8);
    std::copy(data.begin(), data.end(), b.begin() + 8 + static_cast<std::ptrdiff_t>(header.size()));
    return b;
}

/// The header of one U8 tensor "w" of the given shape text ("2,3") holding `bytes` bytes.
std::string st_header(const std::string& shape, std::size_t bytes) {
    return R"({"w":{"dtype":"U8","shape":[)" + shape + R"(],"data_offsets":[0,)" +
           std::to_string(bytes) + "]}}";
}

} // namespace

// =============================================================================================
// Item 4: gzip bombs
// =============================================================================================

#if CTNN_IO_TEST_ZLIB
TEST_CASE("io/limits: a gzip bomb behind a small IDX header stops at the announced size") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path p = tmp / "bomb-idx1-ubyte.gz";
    // A valid IDX file of 10 bytes (ending at offset 18), then 2 GiB of zeros: 2 MB on disk.
    Bytes idx = idx_header(0x08, {10});
    idx.resize(18, 7);
    const Bytes bomb = gzip_bomb(idx, 32);
    CHECK(bomb.size() < (3u << 20));
    write_bytes(p, bomb);

    const std::size_t before = peak_rss();
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 18",
                   "unexpected bytes after the end of the data", "decompressed gzip data",
                   "reading stopped there");
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(p, p), p, "at byte offset 18",
                   "unexpected bytes after the end of the data");
    CHECK(peak_rss() - before < rss_budget);
}

TEST_CASE("io/limits: an IDX header announcing more than ReadLimits::max_bytes fails at once") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path p = tmp / "huge-idx3-ubyte.gz";
    // An honest 2 GiB file (its data is all there), beyond the default limit of 1 GiB.
    const Bytes bomb = gzip_bomb(idx_header(0x08, {1u << 15, 1u << 8, 1u << 8}), 32);
    write_bytes(p, bomb);

    const std::size_t before = peak_rss();
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 4", "dimensions [32768, 256, 256]",
                   "2147483648 data bytes", "limit of 1073741824 bytes", "ReadLimits::max_bytes");
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(p, p), p, "limit of 1073741824 bytes");
    CHECK(peak_rss() - before < rss_budget);
}
#endif

TEST_CASE("io/limits: running out of memory is an io_error naming the file, not bad_alloc") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    // Each file below is small, but reading it needs one allocation of 32 MiB or more.
    const fs::path idx = tmp / "big-idx3-ubyte";
    Bytes images = idx_header(0x08, {1u << 13, 32, 32}); // 8 Mi bytes -> 32 MiB of floats
    images.resize(images.size() + (std::size_t{8} << 20), 1);
    write_bytes(idx, images);
    const fs::path labels = tmp / "one-idx1-ubyte";
    write_bytes(labels, Bytes{0, 0, 0x08, 1, 0, 0, 0, 1, 4});
    const fs::path many = tmp / "many-idx1-ubyte";
    Bytes lots = idx_header(0x08, {1u << 23}); // 8 Mi labels -> 32 MiB of int32
    lots.resize(lots.size() + (std::size_t{8} << 20), 1);
    write_bytes(many, lots);
    const fs::path st = tmp / "big.safetensors";
    const std::size_t n = std::size_t{8} << 20; // 8 Mi U8 values -> 32 MiB of floats
    write_bytes(st, st_file(st_header(std::to_string(n), n), Bytes(n, 1)));
    const fs::path csv = tmp / "big.csv";
    {
        std::string text;
        while (text.size() < (std::size_t{17} << 20)) text += "1.5,2.5,0\n";
        write_bytes(csv, Bytes(text.begin(), text.end()));
    }
#if CTNN_IO_TEST_ZLIB
    const fs::path gz = tmp / "big-idx1-ubyte.gz";
    write_bytes(gz, gzip_member(idx_header(0x08, {100u << 20}), std::size_t{100} << 20));
#endif

    // Under a fake memory limit those allocations fail.
    const FailLargeAllocations limit(std::size_t{16} << 20);
    CHECK_IO_ERROR(ctnn::io::read_idx(idx), idx, "out of memory");
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(idx, labels), idx, "out of memory");
    // Here the label file is the one that does not fit: its name is in the message.
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(labels, many), many, "out of memory");
#if CTNN_IO_TEST_ZLIB
    CHECK_IO_ERROR(ctnn::io::read_idx(gz), gz, "out of memory");
#endif
    CHECK_IO_ERROR(ctnn::io::load_safetensors(st), st, "out of memory");
    CHECK_IO_ERROR(ctnn::io::read_csv(csv), csv, "out of memory");
}

// =============================================================================================
// Item 5: amplified safetensors headers
// =============================================================================================

TEST_CASE("io/limits: a safetensors header of ten million shape entries is rejected") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path p = tmp / "amplified.safetensors";
    // The issue's reproducer: a 20 MB header whose one shape holds 10,000,000 zeros (an empty
    // tensor of rank 10,000,000, 1.6 GB once parsed).
    const std::string head = R"({"w":{"dtype":"U8","shape":[)";
    std::string header = head;
    header.reserve(head.size() + 20'000'100);
    for (int i = 0; i < 10'000'000; ++i) header += i == 0 ? "0" : ",0";
    header += R"(],"data_offsets":[0,0]}})";
    write_bytes(p, st_file(header, {}));

    // Values: the root object, w's object, "U8", the shape array, then the zeros; value 100001
    // is zero number 99997, at 2 * 99996 bytes after the '['.
    const std::uint64_t offset = 8 + head.size() + 2 * 99'996;
    const std::size_t before = peak_rss();
    CHECK_IO_ERROR(ctnn::io::load_safetensors(p), p, "at byte offset " + std::to_string(offset),
                   "more than 100000 JSON values", "ReadLimits::max_json_values");
    CHECK(peak_rss() - before < rss_budget);
}

TEST_CASE("io/limits: safetensors tensors of rank above 8 are rejected") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path p = tmp / "rank9.safetensors";
    const std::string header = st_header("1,1,1,1,1,1,1,1,1", 1);
    write_bytes(p, st_file(header, {5}));
    // The offset of the ninth entry.
    const std::uint64_t offset = 8 + header.find("1,1,1,1,1,1,1,1,1") + 16;
    CHECK_IO_ERROR(ctnn::io::load_safetensors(p), p, "at byte offset " + std::to_string(offset),
                   "tensor \"w\"", "9 dimensions", "more than the limit of 8",
                   "ReadLimits::max_rank");

    write_bytes(p, st_file(st_header("1,1,1,1,1,1,1,1", 1), {5}));
    CHECK(ctnn::io::load_safetensors(p).find("w")->shape.size() == 8);
}

// =============================================================================================
// Item 6: endless streams
// =============================================================================================

#if CTNN_TEST_LINUX
TEST_CASE("io/limits: /dev/zero is not an IDX file, and reading it stops at once") {
    const fs::path zero = "/dev/zero";
    if (!fs::exists(zero)) {
        MESSAGE("skipped: no /dev/zero");
        return;
    }
    const std::size_t before = peak_rss();
    CHECK_IO_ERROR(ctnn::io::read_idx(zero), zero, "at byte offset 2",
                   "unknown IDX data type 0x00");
    CHECK(peak_rss() - before < rss_budget);
}

TEST_CASE("io/limits: an endless IDX stream with a valid header stops at the announced size") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path fifo = tmp / "endless-idx1-ubyte";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::signal(SIGPIPE, SIG_IGN); // the writer learns of the closed reader from EPIPE
    std::atomic<std::uint64_t> written{0};
    std::jthread writer([&] { // joined at scope exit, also when the read throws
        const int fd = ::open(fifo.c_str(), O_WRONLY);
        if (fd < 0) return;
        Bytes block = idx_header(0x08, {100});
        block.resize(1u << 16, 3);
        while (::write(fd, block.data(), block.size()) > 0) {
            written += block.size();
            std::fill(block.begin(), block.begin() + 8, std::uint8_t{3});
            if (written > (std::uint64_t{4} << 30)) break; // the reader never stopped
        }
        ::close(fd);
    });
    CHECK_IO_ERROR(ctnn::io::read_idx(fifo), fifo, "at byte offset 108",
                   "unexpected bytes after the end of the data", "reading stopped there");
    writer.join();
    CHECK(written < (std::uint64_t{64} << 20));
}
#endif

// =============================================================================================
// Item 7: IDX floats follow CSV's rule: NaN and infinities are errors
// =============================================================================================

TEST_CASE("io/limits: IDX float data with NaN or an infinity is rejected with its offset") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    constexpr float nan = std::numeric_limits<float>::quiet_NaN();
    constexpr float inf = std::numeric_limits<float>::infinity();
    const fs::path p = tmp / "floats-idx2";
    // Header 12 bytes; element i starts at 12 + 4 * i.
    write_bytes(p, idx_f32({2, 2}, {1.0f, nan, 3.0f, 4.0f}));
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 16", "element 1", "NaN",
                   "not a finite number");
    write_bytes(p, idx_f32({2, 2}, {1.0f, 2.0f, 3.0f, inf}));
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 24", "element 3", "inf",
                   "not a finite number");
    write_bytes(p, idx_f32({2, 2}, {-inf, 2.0f, 3.0f, 4.0f}));
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 12", "-inf");

    // f64 too; element 2 starts at 8 + 8 * 2.
    Bytes f64 = idx_header(0x0E, {3});
    for (const double v : {0.5, 1.5, std::numeric_limits<double>::quiet_NaN()})
        put_be(f64, std::bit_cast<std::uint64_t>(v), 8);
    write_bytes(p, f64);
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 24", "element 2", "NaN");

    // A dataset's images follow the same rule.
    const fs::path labels = tmp / "labels-idx1";
    Bytes l = idx_header(0x08, {2});
    l.push_back(0);
    l.push_back(1);
    write_bytes(labels, l);
    write_bytes(p, idx_f32({2, 2}, {1.0f, 2.0f, nan, 4.0f}));
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(p, labels), p, "at byte offset 20", "NaN");
#if CTNN_IO_TEST_ZLIB
    const fs::path gz = tmp / "floats-idx2.gz";
    write_bytes(gz, gzip_member(idx_f32({2, 2}, {1.0f, nan, 3.0f, 4.0f})));
    CHECK_IO_ERROR(ctnn::io::read_idx(gz), gz, "at byte offset 16", "NaN",
                   "decompressed gzip data");
#endif

    // Finite values, the largest and the smallest included, are fine.
    write_bytes(p, idx_f32({2, 2}, {std::numeric_limits<float>::max(), -0.0f,
                                    std::numeric_limits<float>::denorm_min(), -1.0f}));
    CHECK(ctnn::io::read_idx(p).data[0] == std::numeric_limits<float>::max());
}

// =============================================================================================
// ReadLimits: each limit can be set, and the readers honour it
// =============================================================================================

TEST_CASE("io/limits: ReadLimits::max_bytes bounds IDX files, plain and gzip") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    Bytes idx = idx_header(0x08, {2, 32, 32}); // data ends at offset 2064
    idx.resize(2064, 9);
    const fs::path plain = tmp / "small-idx3-ubyte";
    write_bytes(plain, idx);
    ctnn::io::ReadLimits limits;
    limits.max_bytes = 2064;
    CHECK(ctnn::io::read_idx(plain, limits).size() == 2048);
    limits.max_bytes = 2063;
    CHECK_IO_ERROR(ctnn::io::read_idx(plain, limits), plain, "at byte offset 4",
                   "ending at offset 2064", "limit of 2063 bytes", "ReadLimits::max_bytes");
    CHECK_IO_ERROR(ctnn::io::read_idx_dataset(plain, plain, 1.0f, limits), plain,
                   "limit of 2063 bytes");
#if CTNN_IO_TEST_ZLIB
    const fs::path gz = tmp / "small-idx3-ubyte.gz";
    write_bytes(gz, gzip_member(idx));
    CHECK_IO_ERROR(ctnn::io::read_idx(gz, limits), gz, "at byte offset 4", "limit of 2063 bytes",
                   "decompressed gzip data");
    limits.max_bytes = 2064;
    CHECK(ctnn::io::read_idx(gz, limits).size() == 2048);
#endif

    // A file shorter than announced is reported as truncated, even when the size it announces is
    // beyond the limit.
    write_bytes(plain, Bytes(idx.begin(), idx.begin() + 100));
    limits.max_bytes = 1000;
    CHECK_IO_ERROR(ctnn::io::read_idx(plain, limits), plain, "truncated data");

    // fashion_mnist passes its limits to each file.
    write_bytes(tmp / "train-images-idx3-ubyte", idx);
    write_bytes(tmp / "t10k-images-idx3-ubyte", idx);
    for (const char* name : {"train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"})
        write_bytes(tmp / name, Bytes{0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2});
    CHECK(ctnn::io::fashion_mnist(tmp.path).train.size() == 2);
    limits.max_bytes = 1000;
    CHECK_IO_ERROR(ctnn::io::fashion_mnist(tmp.path, limits), tmp / "train-images-idx3-ubyte",
                   "limit of 1000 bytes");
}

TEST_CASE("io/limits: trailing bytes of a plain IDX file are counted without reading them") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    const fs::path p = tmp / "long-idx1-ubyte";
    Bytes idx = idx_header(0x08, {10});
    idx.resize(18 + (std::size_t{4} << 20), 1); // 4 MiB after the data
    write_bytes(p, idx);
    CHECK_IO_ERROR(ctnn::io::read_idx(p), p, "at byte offset 18",
                   "4194304 unexpected bytes after the end of the data");
}

#if CTNN_TEST_LINUX
TEST_CASE("io/limits: CSV from an endless stream stops at ReadLimits::max_bytes") {
    const fs::path zero = "/dev/zero";
    if (!fs::exists(zero)) {
        MESSAGE("skipped: no /dev/zero");
        return;
    }
    ctnn::io::ReadLimits limits;
    limits.max_bytes = 1u << 20;
    const std::size_t before = peak_rss();
    CHECK_IO_ERROR(ctnn::io::read_csv(zero, {}, limits), zero, "at byte offset 1048576",
                   "goes on past the limit of 1048576 bytes", "ReadLimits::max_bytes");
    CHECK_IO_ERROR(ctnn::io::read_csv_table(zero, {}, limits), zero, "limit of 1048576 bytes");
    CHECK(peak_rss() - before < rss_budget);
}
#endif

TEST_CASE("io/limits: CSV files beyond ReadLimits::max_bytes, plain and gzip") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    std::string text;
    while (text.size() < 5000) text += "1.5,2.5,0\n";
    const fs::path plain = tmp / "rows.csv";
    write_bytes(plain, Bytes(text.begin(), text.end()));
    ctnn::io::ReadLimits limits;
    limits.max_bytes = text.size();
    CHECK(ctnn::io::read_csv(plain, {}, limits).size() == text.size() / 10);
    CHECK(ctnn::io::read_csv(plain, {}, {.max_bytes = text.size()}).size() == text.size() / 10);
    limits.max_bytes = text.size() - 1;
    CHECK_IO_ERROR(ctnn::io::read_csv(plain, {}, limits), plain,
                   "the file is " + std::to_string(text.size()) + " bytes long",
                   "limit of " + std::to_string(text.size() - 1) + " bytes");
#if CTNN_IO_TEST_ZLIB
    // A gzip bomb: a valid row, then 64 MiB of zeros; a CSV has no header to stop at, so the
    // limit does.
    const fs::path gz = tmp / "bomb.csv.gz";
    write_bytes(gz, gzip_member(Bytes{'1', ',', '2', ',', '0', '\n'}, std::size_t{64} << 20));
    limits.max_bytes = 1u << 20;
    CHECK_IO_ERROR(ctnn::io::read_csv(gz, {}, limits), gz, "at byte offset 1048576",
                   "decompressed data goes on past the limit of 1048576 bytes",
                   "ReadLimits::max_bytes");
    // With the default limit (1 GiB) the bomb is read, and fails as CSV.
    CHECK_IO_ERROR(ctnn::io::read_csv(gz), gz, "line 2");
#endif
}

#if CTNN_IO_TEST_ZLIB
TEST_CASE("io/limits: gunzip stops at max_bytes or where the probe says the data ends") {
    using ctnn::io::detail::gunzip;
    using ctnn::io::detail::gunzip_bounded;
    const Bytes zeros = gzip_member({}, 100000);
    CHECK(gunzip(zeros, "z", 100000).size() == 100000);
    CHECK_IO_ERROR(gunzip(zeros, "z", 99999), "z", "at byte offset 99999", "limit of 99999 bytes");

    // A probe that wants 1000 bytes: decompression stops soon after them, cut short.
    const auto want_1000 = [](std::span<const std::uint8_t>) noexcept -> std::uint64_t {
        return 1000;
    };
    const ctnn::io::detail::Inflated cut = gunzip_bounded(zeros, "z", 1u << 30, want_1000);
    CHECK(cut.cut);
    CHECK(cut.bytes.size() > 1000);
    CHECK(cut.bytes.size() <= 65536);
    // Data of exactly the wanted size is complete, and its gzip trailer is checked.
    const Bytes exact = gzip_member({}, 1000);
    const ctnn::io::detail::Inflated whole = gunzip_bounded(exact, "z", 1u << 30, want_1000);
    CHECK_FALSE(whole.cut);
    CHECK(whole.bytes.size() == 1000);
    Bytes bad_crc = exact;
    bad_crc[bad_crc.size() - 6] ^= 0xff;
    CHECK_IO_ERROR(gunzip_bounded(bad_crc, "z", 1u << 30, want_1000), "z", "corrupt gzip stream");
}
#endif

TEST_CASE("io/limits: the JSON and safetensors limits can be set") {
    TempDir tmp("ctnn_io_limits_", test_tmpdir());
    ctnn::io::ReadLimits limits;
    limits.max_json_values = 3;
    // Values: the array (offset 8), 1, 2, then 3 at offset 8 + 5.
    CHECK(ctnn::io::detail::parse_json("[1,2]", "j", 8, limits).items.size() == 2);
    CHECK_IO_ERROR(ctnn::io::detail::parse_json("[1,2,3]", "j", 8, limits), "j",
                   "at byte offset 13", "more than 3 JSON values", "ReadLimits::max_json_values");
    limits = {};
    limits.max_json_depth = 2;
    CHECK_NOTHROW((void)ctnn::io::detail::parse_json("[[1]]", "j", 0, limits));
    CHECK_IO_ERROR(ctnn::io::detail::parse_json("[[[1]]]", "j", 0, limits), "j", "at byte offset 2",
                   "nesting deeper than 2", "ReadLimits::max_json_depth");

    const fs::path p = tmp / "rank9.safetensors";
    write_bytes(p, st_file(st_header("1,1,1,1,1,1,1,1,1", 1), {5}));
    limits = {};
    limits.max_rank = 9;
    CHECK(ctnn::io::load_safetensors(p, limits).find("w")->shape.size() == 9);
    limits.max_rank = 0;
    CHECK_IO_ERROR(ctnn::io::load_safetensors(p, limits), p, "more than the limit of 0");
    limits = {};
    limits.max_json_values = 5; // root, w, "U8", shape, 1: the sixth value is the second 1
    CHECK_IO_ERROR(ctnn::io::load_safetensors(p, limits), p, "more than 5 JSON values");
    limits.max_json_depth = 1; // the tensor's object is at depth 1
    limits.max_json_values = 100;
    CHECK_IO_ERROR(ctnn::io::load_safetensors(p, limits), p, "at byte offset 13",
                   "nesting deeper than 1");
}
