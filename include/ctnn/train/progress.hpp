// ctnn/train/progress.hpp — a progress bar for terminals, one line per epoch elsewhere.
#pragma once
#include "../config.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace ctnn {

/// How train() reports progress.
enum class Progress {
    automatic, ///< a live bar if the output is a terminal, else one line per epoch
    bar,       ///< always a live bar
    lines,     ///< one line per epoch
    silent,    ///< nothing
};

/// Draws the progress of a training run.
class ProgressBar {
public:
    ProgressBar(Progress mode, std::ostream* out) : out_(out) {
        if (mode == Progress::automatic) mode = is_terminal(out) ? Progress::bar : Progress::lines;
        if (!out_) mode = Progress::silent;
        mode_ = mode;
    }

    void start_epoch(std::size_t epoch, std::size_t epochs, std::size_t steps) {
        epoch_ = epoch;
        epochs_ = epochs;
        steps_ = steps;
        t0_ = std::chrono::steady_clock::now();
        last_draw_ = t0_ - std::chrono::seconds(1);
    }

    void step(std::size_t done, double running_loss) {
        if (mode_ != Progress::bar) return;
        const auto now = std::chrono::steady_clock::now();
        if (done != steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        constexpr int width = 30;
        const int filled =
            static_cast<int>(width * static_cast<double>(done) / static_cast<double>(steps_));
        std::string bar(static_cast<std::size_t>(filled), '=');
        if (filled < width)
            bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
        char buf[160];
        std::snprintf(buf, sizeof buf, "\rEpoch %zu/%zu [%s] %zu/%zu  loss %.4f  %.1fs", epoch_,
                      epochs_, bar.c_str(), done, steps_, running_loss, elapsed(now));
        *out_ << buf << std::flush;
    }

    /// The epoch's summary line; `skipped` batches (non-finite loss or gradients) and an fp16
    /// model's steps skipped by loss scaling (`scale_skipped`) are named.
    void end_epoch(double loss, double acc, double val_loss, double val_acc, double seconds,
                   std::size_t skipped = 0, std::size_t scale_skipped = 0) {
        if (mode_ == Progress::silent) return;
        std::string line = std::string(mode_ == Progress::bar ? "\r" : "") + std::string("Epoch ") +
                           std::to_string(epoch_) + "/" + std::to_string(epochs_) + ": loss " +
                           fmt(loss, 4);
        if (!std::isnan(acc)) line += std::string(", accuracy ") + fmt(100 * acc, 2) + "%";
        if (!std::isnan(val_loss)) line += std::string(", val_loss ") + fmt(val_loss, 4);
        if (!std::isnan(val_acc))
            line += std::string(", val_accuracy ") + fmt(100 * val_acc, 2) + "%";
        line += std::string(" (") + fmt(seconds, 1) + "s)";
        if (skipped > 0)
            line += std::string(", skipped ") + std::to_string(skipped) + " batch" +
                    (skipped == 1 ? "" : "es") + " (non-finite loss or gradients)";
        if (scale_skipped > 0)
            line += std::string(", ") + std::to_string(scale_skipped) + " step" +
                    (scale_skipped == 1 ? "" : "s") + " skipped by loss scaling (fp16 overflow)";
        if (mode_ == Progress::bar) line += "\033[K"; // clear what is left of the bar
        *out_ << line << '\n' << std::flush;
    }

    /// One line of its own (why training stopped), unless silent.
    void note(const std::string& what) {
        if (mode_ != Progress::silent) *out_ << what << '\n' << std::flush;
    }

private:
    static std::string fmt(double v, int digits) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", digits, v);
        return buf;
    }
    double elapsed(std::chrono::steady_clock::time_point now) const {
        return std::chrono::duration<double>(now - t0_).count();
    }
    static bool is_terminal(std::ostream* out) {
#if defined(__unix__) || defined(__APPLE__)
        if (out == &std::cout) return ::isatty(STDOUT_FILENO) != 0;
        if (out == &std::cerr || out == &std::clog) return ::isatty(STDERR_FILENO) != 0;
#endif
        (void)out;
        return false;
    }

    std::ostream* out_;
    Progress mode_ = Progress::lines;
    std::size_t epoch_ = 0, epochs_ = 0, steps_ = 0;
    std::chrono::steady_clock::time_point t0_{}, last_draw_{};
};

} // namespace ctnn
