// ctnn/core/dataset.hpp — an in-memory dataset of samples with labels and/or regression targets.
//
// Samples are stored row-major: sample i occupies features[i * feature_count, (i + 1) *
// feature_count). A sample's logical shape (e.g. [1, 28, 28] for an image in channel-first layout)
// is kept in sample_shape; its product equals feature_count.
#pragma once
#include "../config.hpp"
#include "error.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace ctnn {

/// A dataset held in host memory. Classification data fills `labels` (one class index per sample);
/// regression data fills `targets` (target_count values per sample). Both may be present.
struct Dataset {
    std::vector<float> features;           ///< [size(), feature_count], row-major
    std::size_t feature_count = 0;         ///< values per sample
    std::vector<std::size_t> sample_shape; ///< logical per-sample shape; product == feature_count
    std::vector<std::int32_t> labels;      ///< [size()] class indices, or empty
    std::vector<float> targets;            ///< [size(), target_count], or empty
    std::size_t target_count = 0;          ///< values per regression target

    /// Number of samples.
    [[nodiscard]] std::size_t size() const noexcept {
        return feature_count == 0 ? 0 : features.size() / feature_count;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] bool has_labels() const noexcept { return !labels.empty(); }
    [[nodiscard]] bool has_targets() const noexcept { return !targets.empty(); }

    /// Pointer to the first feature of sample i.
    [[nodiscard]] const float* sample(std::size_t i) const noexcept {
        return features.data() + i * feature_count;
    }

    /// Throws ctnn::shape_error if the parts of the dataset disagree on the number of samples.
    void validate() const {
        if (feature_count == 0 || features.size() % feature_count != 0)
            throw shape_error(std::string("dataset: ") + std::to_string(features.size()) +
                              std::string(" feature values do not divide into samples of ") +
                              std::to_string(feature_count));
        if (!sample_shape.empty()) {
            const std::size_t prod = std::accumulate(sample_shape.begin(), sample_shape.end(),
                                                     std::size_t{1}, std::multiplies<>{});
            if (prod != feature_count)
                throw shape_error(
                    std::string("dataset: sample_shape holds ") + std::to_string(prod) +
                    std::string(" values but feature_count is ") + std::to_string(feature_count));
        }
        if (has_labels() && labels.size() != size())
            throw shape_error(std::string("dataset: ") + std::to_string(labels.size()) +
                              " labels for " + std::to_string(size()) + " samples");
        if (has_targets() && (target_count == 0 || targets.size() != size() * target_count))
            throw shape_error(std::string("dataset: ") + std::to_string(targets.size()) +
                              " target values for " + std::to_string(size()) + " samples of " +
                              std::to_string(target_count) + " targets");
    }
};

/// A train/test pair, as returned by the dataset readers.
struct DatasetSplit {
    Dataset train;
    Dataset test;
};

} // namespace ctnn
