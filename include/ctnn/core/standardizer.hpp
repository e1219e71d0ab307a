// ctnn/core/standardizer.hpp — per-feature standardization, fitted on a training set.
//
// z = (x - mean) / scale for every feature, with mean and scale taken from the training set only
// and applied unchanged to validation, test and inference data (scikit-learn's StandardScaler).
// Saving it with a checkpoint: ctnn/io/standardizer.hpp.
#pragma once
#include "../config.hpp"
#include "dataset.hpp"
#include "error.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ctnn {

/// Per-feature standardization: transform() maps feature j of every sample to
/// (x - mean()[j]) / scale()[j], in float.
///
/// fit() computes each feature's mean and population standard deviation (divisor n, numpy's
/// default, ddof=0) over the training samples, accumulating in double in two passes (mean, then
/// squared deviations from it), and stores both rounded to float. Zero-variance rule: a feature
/// whose standard deviation is 0 (all training values equal) or below the smallest normal float
/// (about 1.2e-38) gets scale 1, so it is only centred: it becomes 0 on the training set and
/// x - mean elsewhere; no division by zero, no inf or NaN. The other features get the standard
/// deviation as scale. A default-constructed Standardizer is not fitted; using it throws.
class Standardizer {
public:
    /// Not fitted: fit() or the (mean, scale) constructor makes a usable one.
    Standardizer() = default;

    /// A standardizer with the given per-feature mean and scale (what io::load_standardizer
    /// does). Throws argument_error if the sizes differ, are 0, or a mean is not finite or a
    /// scale is not a finite positive normal float.
    Standardizer(std::vector<float> mean, std::vector<float> scale)
        : mean_(std::move(mean)), scale_(std::move(scale)) {
        if (mean_.empty() || mean_.size() != scale_.size())
            throw argument_error("Standardizer: " + std::to_string(mean_.size()) + " means and " +
                                 std::to_string(scale_.size()) +
                                 " scales; both need one value per feature (at least one)");
        for (std::size_t j = 0; j < mean_.size(); ++j) {
            if (!std::isfinite(mean_[j]))
                throw argument_error("Standardizer: the mean of feature " + std::to_string(j) +
                                     " is not finite");
            if (!std::isfinite(scale_[j]) || !(scale_[j] >= std::numeric_limits<float>::min()))
                throw argument_error("Standardizer: the scale of feature " + std::to_string(j) +
                                     " is " + std::to_string(scale_[j]) +
                                     "; a scale must be a finite positive (normal) float");
        }
    }

    /// Fits on the samples of `train` (its features; labels and targets are ignored). Throws
    /// argument_error for an empty dataset or a NaN or infinite feature (naming the sample and
    /// feature), shape_error for an inconsistent one (Dataset::validate).
    [[nodiscard]] static Standardizer fit(const Dataset& train) {
        train.validate();
        return fit(train.features, train.feature_count);
    }

    /// Fits on row-major samples of `feature_count` values each (features.size() must be a
    /// non-zero multiple of it); otherwise as fit(const Dataset&).
    [[nodiscard]] static Standardizer fit(std::span<const float> features,
                                          std::size_t feature_count) {
        if (feature_count == 0 || features.size() % feature_count != 0)
            throw shape_error("Standardizer::fit: " + std::to_string(features.size()) +
                              " values do not divide into samples of " +
                              std::to_string(feature_count) + " features");
        const std::size_t n = features.size() / feature_count;
        if (n == 0) throw argument_error("Standardizer::fit: the training set has no samples");
        // Pass 1: means (row by row, so memory is read in order).
        std::vector<double> sum(feature_count, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const float* row = features.data() + i * feature_count;
            for (std::size_t j = 0; j < feature_count; ++j) {
                if (!std::isfinite(row[j]))
                    throw argument_error("Standardizer::fit: feature " + std::to_string(j) +
                                         " of sample " + std::to_string(i) + " is " +
                                         (std::isnan(row[j]) ? "NaN" : "infinite") +
                                         "; standardization needs finite values");
                sum[j] += static_cast<double>(row[j]);
            }
        }
        std::vector<double> mean(feature_count);
        for (std::size_t j = 0; j < feature_count; ++j) mean[j] = sum[j] / static_cast<double>(n);
        // Pass 2: squared deviations from the mean (exact 0 for a constant feature).
        std::vector<double> sq(feature_count, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const float* row = features.data() + i * feature_count;
            for (std::size_t j = 0; j < feature_count; ++j) {
                const double d = static_cast<double>(row[j]) - mean[j];
                sq[j] += d * d;
            }
        }
        std::vector<float> m(feature_count), s(feature_count);
        for (std::size_t j = 0; j < feature_count; ++j) {
            m[j] = static_cast<float>(mean[j]);
            const auto sd = static_cast<float>(std::sqrt(sq[j] / static_cast<double>(n)));
            if (!std::isfinite(sd))
                throw argument_error("Standardizer::fit: the standard deviation of feature " +
                                     std::to_string(j) + " exceeds the float range");
            s[j] = sd >= std::numeric_limits<float>::min() ? sd : 1.0f; // zero-variance rule
        }
        return Standardizer(std::move(m), std::move(s));
    }

    /// True once fitted (or constructed from a mean and a scale).
    [[nodiscard]] bool fitted() const noexcept { return !mean_.empty(); }
    /// Number of features it was fitted on (0 when not fitted).
    [[nodiscard]] std::size_t feature_count() const noexcept { return mean_.size(); }
    /// Per-feature means, as subtracted.
    [[nodiscard]] std::span<const float> mean() const noexcept { return mean_; }
    /// Per-feature scales, as divided by: the standard deviation, or 1 for a zero-variance one.
    [[nodiscard]] std::span<const float> scale() const noexcept { return scale_; }

    /// Standardizes row-major samples in place (features.size() must be a multiple of
    /// feature_count(): one sample or many, e.g. an inference input). Throws argument_error when
    /// not fitted, shape_error for a size that does not divide into samples.
    void transform(std::span<float> features) const {
        check(features.size(), "values");
        const std::size_t f = mean_.size();
        for (std::size_t i = 0; i < features.size(); i += f)
            for (std::size_t j = 0; j < f; ++j)
                features[i + j] = (features[i + j] - mean_[j]) / scale_[j];
    }

    /// Standardizes the features of `data` in place (labels and targets are left alone). Throws
    /// argument_error when not fitted, shape_error if data.feature_count differs from
    /// feature_count().
    void transform(Dataset& data) const {
        if (fitted() && data.feature_count != mean_.size())
            throw shape_error("Standardizer: fitted on " + std::to_string(mean_.size()) +
                              " features, the dataset has " + std::to_string(data.feature_count));
        transform(std::span<float>(data.features));
    }

    /// A standardized copy of `data`; `data` is unchanged. Errors as transform(Dataset&).
    [[nodiscard]] Dataset transformed(const Dataset& data) const {
        Dataset copy = data;
        transform(copy);
        return copy;
    }

private:
    void check(std::size_t values, const char* what) const {
        if (!fitted())
            throw argument_error("Standardizer: not fitted; call Standardizer::fit on the "
                                 "training set first");
        if (values % mean_.size() != 0)
            throw shape_error("Standardizer: fitted on " + std::to_string(mean_.size()) +
                              " features, but " + std::to_string(values) + " " + what +
                              " do not divide into samples of that size");
    }

    std::vector<float> mean_;
    std::vector<float> scale_;
};

} // namespace ctnn
