// tests/unit/checkpoint.cpp — the guarantees of checkpoint saving (save_safetensors through
// detail::AtomicFileWriter): the file's permission bits survive a save, a symlink is followed
// (its target is replaced, the link stays), stale temporaries of the target are cleaned while
// nothing else is touched, and neither a failed save nor a process killed mid-save leaves a
// temporary file behind.
#include <ctnn/io.hpp>

#include "io_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<unistd.h>) && __has_include(<sys/wait.h>) && __has_include(<sys/resource.h>)
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define CTNN_TEST_POSIX 1
#else
#define CTNN_TEST_POSIX 0
#endif

namespace {

namespace fs = std::filesystem;
using Views = std::vector<ctnn::io::TensorView>;
using ctnn::test::dir_entries;
using ctnn::test::TempDir;
using ctnn::test::write_text;

/// The names in a directory, sorted.
/// Saves one tensor "w" holding `values`.
void save(const fs::path& p, const std::vector<float>& values) {
    ctnn::io::save_safetensors(p, Views{{"w", {static_cast<std::int64_t>(values.size())}, values}});
}

/// The values of tensor "w" in a checkpoint.
std::vector<float> load(const fs::path& p) { return ctnn::io::load_safetensors(p).find("w")->data; }

using Writer = ctnn::io::detail::AtomicFileWriter;
/// Both kinds of temporary: anonymous (O_TMPFILE) where supported, and the named fallback.
constexpr Writer::Temporary kinds[] = {Writer::Temporary::anonymous_if_possible,
                                       Writer::Temporary::named};

/// Replaces `p` with `text` through an AtomicFileWriter with the given kind of temporary.
void put(const fs::path& p, std::string_view text, Writer::Temporary kind) {
    Writer w(p, kind);
    w.write(text.data(), text.size());
    w.commit();
}

/// The content of a file.
std::string get(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The permission bits of a file (following symlinks).
fs::perms perms_of(const fs::path& p) { return fs::status(p).permissions(); }

/// A name the writer uses for its temporaries of `target`: ".<name>.tmp" and 16 hex digits.
std::string temp_name(const std::string& target, std::string_view hex = "0123456789abcdef") {
    return "." + target + ".tmp" + std::string(hex);
}

} // namespace

TEST_CASE("checkpoint: a save keeps the file's permission bits") {
    TempDir tmp("ctnn_ckpt_test_");
    const fs::path p = tmp / "m.safetensors";
    save(p, {1, 2, 3});
    write_text(tmp / "raw", "");
    const fs::perms modes[] = {fs::perms::owner_read | fs::perms::owner_write,
                               fs::perms::owner_read | fs::perms::owner_write |
                                   fs::perms::group_read,
                               fs::perms::owner_read};
    for (const fs::perms mode : modes) {
        CAPTURE(static_cast<int>(mode));
        fs::permissions(p, mode);
        save(p, {4, 5});
        CHECK(perms_of(p) == mode);
        CHECK(load(p) == std::vector<float>{4, 5});
        for (const Writer::Temporary kind : kinds) {
            CAPTURE(static_cast<int>(kind));
            fs::permissions(tmp / "raw", mode, fs::perm_options::replace);
            put(tmp / "raw", "data", kind);
            CHECK(perms_of(tmp / "raw") == mode);
            CHECK(get(tmp / "raw") == "data");
        }
    }
    CHECK(dir_entries(tmp.path) == std::vector<std::string>{"m.safetensors", "raw"});
#if CTNN_TEST_POSIX
    // A new file gets the default mode of the process: 0666 less the umask.
    const ::mode_t old_mask = ::umask(027);
    save(tmp / "new.safetensors", {1});
    put(tmp / "new-named", "x", Writer::Temporary::named);
    ::umask(old_mask);
    const fs::perms want = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;
    CHECK(perms_of(tmp / "new.safetensors") == want);
    CHECK(perms_of(tmp / "new-named") == want);
#endif
}

TEST_CASE("checkpoint: a save through a symlink replaces the link's target") {
    TempDir tmp("ctnn_ckpt_test_");
    fs::create_directory(tmp / "runs");
    fs::create_directory(tmp / "store");
    const fs::path target = tmp / "store" / "m.safetensors";
    save(target, {1, 2, 3});
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);

    // A relative link in another directory, and a link to that link.
    const fs::path link = tmp / "runs" / "latest.safetensors";
    fs::create_symlink(fs::path("..") / "store" / "m.safetensors", link);
    const fs::path link2 = tmp / "link2";
    fs::create_symlink(link, link2);

    save(link, {4, 5});
    CHECK(fs::is_symlink(link));
    CHECK(fs::read_symlink(link) == fs::path("..") / "store" / "m.safetensors");
    CHECK(load(target) == std::vector<float>{4, 5});
    CHECK(perms_of(target) == (fs::perms::owner_read | fs::perms::owner_write));

    save(link2, {6});
    CHECK(fs::is_symlink(link2));
    CHECK(fs::is_symlink(link));
    CHECK(load(target) == std::vector<float>{6});

    // The named fallback follows the link too.
    const fs::path raw = tmp / "store" / "raw";
    write_text(raw, "old");
    fs::create_symlink(fs::path("..") / "store" / "raw", tmp / "runs" / "raw-link");
    put(tmp / "runs" / "raw-link", "new", Writer::Temporary::named);
    CHECK(fs::is_symlink(tmp / "runs" / "raw-link"));
    CHECK(get(raw) == "new");

    // A dangling link: the file it names is created.
    const fs::path dangling = tmp / "runs" / "next.safetensors";
    fs::create_symlink(fs::path("..") / "store" / "next.safetensors", dangling);
    save(dangling, {7});
    CHECK(fs::is_symlink(dangling));
    CHECK(load(tmp / "store" / "next.safetensors") == std::vector<float>{7});

    // Nothing but the links and their targets.
    CHECK(dir_entries(tmp / "runs") ==
          std::vector<std::string>{"latest.safetensors", "next.safetensors", "raw-link"});
    CHECK(dir_entries(tmp / "store") ==
          std::vector<std::string>{"m.safetensors", "next.safetensors", "raw"});

    // A link cycle is an io_error naming the file, and the link is left alone.
    const fs::path loop = tmp / "loop";
    fs::create_symlink("loop", loop);
    bool thrown = false;
    try {
        save(loop, {1});
    } catch (const ctnn::io_error& e) {
        thrown = true;
        CHECK(e.file() == loop.string());
        CHECK(std::string(e.what()).find("symbolic links") != std::string::npos);
    }
    CHECK(thrown);
    CHECK(fs::is_symlink(loop));
}

TEST_CASE("checkpoint: stale temporaries of the target are removed, nothing else") {
    TempDir tmp("ctnn_ckpt_test_");
    const auto hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
    const std::string stale = temp_name("m.safetensors");
    const std::string stale2 = temp_name("m.safetensors", "fedcba9876543210");
    // Each of these is kept: fresh, of another target, or not exactly the writer's pattern.
    const std::vector<std::string> kept = {
        temp_name("m.safetensors", "00000000000000ff"),  // fresh (written below, not aged)
        temp_name("other.safetensors"),                  // another target
        temp_name("m.safetensor"),                       // a prefix of the target's name
        "m.safetensors.tmp0123456789abcdef",             // no leading dot
        temp_name("m.safetensors", "0123456789abcde"),   // 15 digits
        temp_name("m.safetensors", "0123456789abcdef0"), // 17 digits
        temp_name("m.safetensors", "0123456789ABCDEF"),  // upper case
        temp_name("m.safetensors", "0123456789abcdeg"),  // not hex
        ".m.safetensors.tmp",                            // no digits
        "notes.txt",
    };
    for (const std::string& name : kept) write_text(tmp / name, "keep");
    write_text(tmp / stale, "stale");
    write_text(tmp / stale2, "stale");
    for (const std::string& name : kept)
        if (name != kept[0]) fs::last_write_time(tmp / name, hour_ago);
    fs::last_write_time(tmp / stale, hour_ago);
    fs::last_write_time(tmp / stale2, hour_ago);
    // An old directory and a symlink with matching names are not files the writer made.
    const std::string dir_name = temp_name("m.safetensors", "1111111111111111");
    fs::create_directory(tmp / dir_name);
    fs::last_write_time(tmp / dir_name, hour_ago);
    const std::string link_name = temp_name("m.safetensors", "2222222222222222");
    fs::create_symlink(stale, tmp / link_name); // (to a stale file: the link itself is kept)

    save(tmp / "m.safetensors", {1, 2});

    std::vector<std::string> want = kept;
    want.push_back("m.safetensors");
    want.push_back(dir_name);
    want.push_back(link_name);
    std::sort(want.begin(), want.end());
    CHECK(dir_entries(tmp.path) == want);
    CHECK(load(tmp / "m.safetensors") == std::vector<float>{1, 2});

    // The named fallback cleans as well, and names its own temporaries by the same pattern.
    write_text(tmp / stale, "stale");
    fs::last_write_time(tmp / stale, hour_ago);
    {
        Writer w(tmp / "m.safetensors", Writer::Temporary::named);
        CHECK_FALSE(fs::exists(tmp / stale));
        std::vector<std::string> mine;
        for (const std::string& name : dir_entries(tmp.path))
            if (std::find(want.begin(), want.end(), name) == want.end()) mine.push_back(name);
        REQUIRE(mine.size() == 1);
        CHECK(ctnn::io::detail::is_temporary_name(mine[0], "m.safetensors"));
        w.write("x", 1);
        w.commit();
    }
    CHECK(dir_entries(tmp.path) == want);
    CHECK(get(tmp / "m.safetensors") == "x");
}

TEST_CASE("checkpoint: a failed save leaves no temporary and the previous file") {
    TempDir tmp("ctnn_ckpt_test_");
    const fs::path p = tmp / "m.safetensors";
    save(p, {1, 2, 3});
    const std::vector<std::string> only = {"m.safetensors"};

    for (const Writer::Temporary kind : kinds) {
        CAPTURE(static_cast<int>(kind));
        // The code writing the checkpoint throws before commit().
        bool thrown = false;
        try {
            Writer w(p, kind);
            const std::vector<char> bytes(100000, 'x');
            w.write(bytes.data(), bytes.size());
            throw std::runtime_error("writer failed");
        } catch (const std::runtime_error&) {
            thrown = true;
        }
        CHECK(thrown);
        CHECK(dir_entries(tmp.path) == only);
        CHECK(load(p) == std::vector<float>{1, 2, 3});

        // The rename fails: the target became a non-empty directory while the file was written.
        const fs::path q = tmp / "q.safetensors";
        thrown = false;
        {
            Writer w(q, kind);
            w.write("abc", 3);
            fs::create_directory(q);
            write_text(q / "inside", "x");
            try {
                w.commit();
            } catch (const ctnn::io_error& e) {
                thrown = true;
                CHECK(e.file() == q.string());
                CHECK(std::string(e.what()).find("cannot replace the file") != std::string::npos);
            }
        }
        CHECK(thrown);
        CHECK(dir_entries(tmp.path) == std::vector<std::string>{"m.safetensors", "q.safetensors"});
        CHECK(dir_entries(q) == std::vector<std::string>{"inside"});
        fs::remove_all(q);
    }

#if CTNN_TEST_POSIX
    // A write error in the middle of the data (the file size limit stands in for a full disk).
    {
        bool thrown = false;
        {
            const ctnn::test::FileSizeLimit limit(4096);
            try {
                save(p, std::vector<float>(100000, 1.0f));
            } catch (const ctnn::io_error& e) {
                thrown = true;
                CHECK(e.file() == p.string());
            }
        }
        CHECK(thrown);
        CHECK(dir_entries(tmp.path) == only);
        CHECK(load(p) == std::vector<float>{1, 2, 3});
    }
    // A read-only directory (only meaningful when not running as root).
    if (::geteuid() != 0) {
        fs::permissions(tmp.path, fs::perms::owner_read | fs::perms::owner_exec);
        CHECK_THROWS_AS(save(p, {4}), ctnn::io_error);
        fs::permissions(tmp.path, fs::perms::owner_all);
        CHECK(dir_entries(tmp.path) == only);
        CHECK(load(p) == std::vector<float>{1, 2, 3});
    }
#endif
}

#if CTNN_TEST_POSIX
namespace {
/// Starts a save of `p` in a forked child, which writes 1 MB, reports through a pipe whether its
/// temporary is anonymous ('a') or named ('n') and waits; then kills the child with SIGKILL (which
/// no handler can intercept) and returns what it reported.
char kill_mid_save(const fs::path& p, Writer::Temporary kind) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const ::pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        try {
            Writer w(p, kind);
            const std::vector<char> bytes(1 << 20, 'x');
            w.write(bytes.data(), bytes.size());
            const char ready = w.anonymous() ? 'a' : 'n';
            if (::write(fds[1], &ready, 1) != 1) ::_exit(2);
            for (;;) ::pause();
        } catch (...) {
        }
        ::_exit(3); // (the parent then reads no byte)
    }
    ::close(fds[1]);
    char ready = 0;
    const auto got = ::read(fds[0], &ready, 1);
    ::close(fds[0]);
    CHECK(got == 1);
    CHECK(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    return ready;
}
} // namespace

TEST_CASE("checkpoint: a save killed with SIGKILL leaves no temporary") {
    TempDir tmp("ctnn_ckpt_test_");
    const fs::path p = tmp / "m.safetensors";
    save(p, {1, 2, 3});
    const std::vector<std::string> only = {"m.safetensors"};

    const char kind = kill_mid_save(p, Writer::Temporary::anonymous_if_possible);
#ifdef __linux__
    if (kind != 'a')
        MESSAGE("O_TMPFILE is not available under " << tmp.path.string()
                                                    << ": the writer used a named temporary");
#endif
    if (kind == 'a') CHECK(dir_entries(tmp.path) == only);
    CHECK(load(p) == std::vector<float>{1, 2, 3});

    // The named fallback leaves its temporary; a later save removes it once it is stale.
    for (const std::string& name : dir_entries(tmp.path))
        if (name != only[0]) fs::remove(tmp / name);
    CHECK(kill_mid_save(p, Writer::Temporary::named) == 'n');
    std::vector<std::string> left = dir_entries(tmp.path);
    REQUIRE(left.size() == 2);
    CHECK(ctnn::io::detail::is_temporary_name(left[0], "m.safetensors"));
    CHECK(fs::file_size(tmp / left[0]) == std::uintmax_t{1} << 20);
    save(p, {4}); // too fresh to be removed
    CHECK(dir_entries(tmp.path) == left);
    fs::last_write_time(tmp / left[0], fs::file_time_type::clock::now() -
                                           ctnn::io::detail::stale_temporary_age -
                                           std::chrono::minutes(1));
    save(p, {5});
    CHECK(dir_entries(tmp.path) == only);
    CHECK(load(p) == std::vector<float>{5});
}

TEST_CASE("checkpoint: on Linux the temporary has no name until commit") {
#ifdef __linux__
    TempDir tmp("ctnn_ckpt_test_");
    const fs::path p = tmp / "m.safetensors";
    Writer w(p);
    if (!w.anonymous()) {
        MESSAGE("O_TMPFILE is not available under " << tmp.path.string() << "; skipped");
        return;
    }
    w.write("abc", 3);
    CHECK(fs::is_empty(tmp.path));
    w.commit();
    CHECK(dir_entries(tmp.path) == std::vector<std::string>{"m.safetensors"});
    CHECK(get(p) == "abc");
#endif
}
#endif
