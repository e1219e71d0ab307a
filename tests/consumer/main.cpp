// A downstream program using ctnn. tests/consumer/CMakeLists.txt builds it against ctnn obtained
// by find_package, add_subdirectory or FetchContent; the ctest test consumer.* runs it.
#include <ctnn/ctnn.hpp>

#include <cstdio>

static_assert(__cplusplus >= 202002L, "ctnn::ctnn must give its consumers C++20");

#if CTNN_CONSUMER_EXPECT_ZLIB && !defined(CTNN_HAS_ZLIB)
#error "ctnn was built with zlib, but ctnn::ctnn did not define CTNN_HAS_ZLIB"
#endif

using Net = ctnn::Sequential<ctnn::Input<2>, ctnn::Dense<8>, ctnn::Tanh, ctnn::Dense<2>>;
static_assert(Net::param_count == 2 * 8 + 8 + 8 * 2 + 2);

int main() {
    ctnn::Dataset data; // XOR
    data.features = {0, 0, 0, 1, 1, 0, 1, 1};
    data.feature_count = 2;
    data.labels = {0, 1, 1, 0};
    ctnn::Model<Net> model;
    model.init(1, ctnn::Init::xavier_uniform);
    ctnn::train(model, data, ctnn::loss::SoftmaxCrossEntropy{}, ctnn::optim::Adam{.lr = 0.05f},
                {.epochs = 300, .batch = 4, .progress = ctnn::Progress::silent});
    const auto e = ctnn::evaluate(model, data, ctnn::loss::SoftmaxCrossEntropy{});
    std::printf("consumer: ctnn %d.%d.%d, XOR accuracy %.0f%%\n", CTNN_VERSION_MAJOR,
                CTNN_VERSION_MINOR, CTNN_VERSION_PATCH, 100 * e.accuracy);
    return e.accuracy == 1.0 ? 0 : 1;
}
