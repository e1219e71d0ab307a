// ctnn/core/error.hpp — the exception hierarchy of ctnn.
//
// Every runtime failure ctnn reports is a ctnn::error. Subclasses say which part failed; their
// message is one line that names the file, offset or tensor involved.
#pragma once
#include "../config.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ctnn {

/// Base class of every exception ctnn throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A file could not be read or written, or its content is malformed. The message names the file
/// and, where it applies, the byte offset of the problem.
class io_error : public error {
public:
    io_error(const std::string& file, const std::string& what)
        : error(file + ": " + what), file_(file) {}
    io_error(const std::string& file, std::uint64_t offset, const std::string& what)
        : error(file + ": at byte offset " + std::to_string(offset) + ": " + what), file_(file) {}
    [[nodiscard]] const std::string& file() const noexcept { return file_; }

private:
    std::string file_;
};

/// Runtime shapes or sizes do not fit the model (e.g. a dataset with 10 features fed to Input<784>,
/// or a checkpoint tensor whose shape differs from the model's parameter).
class shape_error : public error {
public:
    using error::error;
};

/// A runtime argument is invalid (e.g. batch size 0, an unknown option value).
class argument_error : public error {
public:
    using error::error;
};

/// An object was used from two threads at once where its rules allow only one (a Model: any
/// number of predict() calls at a time, or one other call; docs/reliability.md, "Threads").
class concurrency_error : public error {
public:
    using error::error;
};

/// A computation produced NaN or infinity where a finite value is needed (train(): a batch's loss
/// or gradients). The message names where.
class numeric_error : public error {
public:
    using error::error;
};

} // namespace ctnn
