// Embedded inference, as on a Jetson's CPU (or any CPU): a Fashion-MNIST classifier whose weights
// are compiled into the program, run with no heap allocation, no exceptions and no RTTI.
//
//   jetson_inference [DATA_DIR] [TEST_IMAGES]
//
// The weights are examples/data/fashion_mnist_mlp128.safetensors (a 784-128-10 MLP trained by
// ctnn, recipe in examples/data/README.md), turned into the header fashion_mnist_mlp128.hpp by
// the CMake function ctnn_embed_checkpoint at build time (examples/CMakeLists.txt). StaticModel
// reads them in place from .rodata (nothing is copied) after checking at compile time that the
// file's tensor names and shapes are this model's. This program is built with -fno-exceptions
// -fno-rtti and includes only <ctnn/static.hpp>: errors are return codes.
//
// It reads the first TEST_IMAGES (default 10000) images of the Fashion-MNIST test set from
// DATA_DIR (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist; .gz read
// through zlib when ctnn was built with it), classifies them one at a time and prints the
// accuracy and the time per image. Use your own model: train it with Model, save() it, point
// ctnn_embed_checkpoint at the file and change `Net` below to its type (docs/jetson.md).
#include <ctnn/static.hpp>

#include "fashion_mnist_mlp128.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#if defined(CTNN_HAS_ZLIB)
#include <zlib.h>
#endif

using Net = ctnn::Sequential<ctnn::Input<28 * 28>, ctnn::Dense<128>, ctnn::ReLU, ctnn::Dense<10>>;

// A global: its activation arena is in .bss, its weights are fashion_mnist_mlp128::data.
static ctnn::StaticModel<Net, 1, ctnn::EmbeddedParameters<fashion_mnist_mlp128>> model;

namespace {

/// Reads all of `path` (or `path`.gz with zlib); false if it cannot.
bool read_file(const std::string& path, std::vector<unsigned char>& out) {
#if defined(CTNN_HAS_ZLIB)
    gzFile f = gzopen((path + ".gz").c_str(), "rb");
    if (f == nullptr) f = gzopen(path.c_str(), "rb"); // gzread also reads uncompressed files
    if (f == nullptr) return false;
    unsigned char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
    const bool ok = n == 0;
    gzclose(f);
    return ok;
#else
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    unsigned char buf[1 << 16];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    const bool ok = std::ferror(f) == 0;
    std::fclose(f);
    return ok;
#endif
}

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

} // namespace

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const long wanted = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 10000;
    std::vector<unsigned char> images, labels;
    const std::string image_file = dir + "/t10k-images-idx3-ubyte";
    const std::string label_file = dir + "/t10k-labels-idx1-ubyte";
    if (!read_file(image_file, images) || !read_file(label_file, labels)) {
        std::fprintf(stderr, "jetson_inference: cannot read %s and %s (.gz needs zlib)\n",
                     image_file.c_str(), label_file.c_str());
        return 1;
    }
    // IDX: magic 0x803 (images: count, 28, 28) and 0x801 (labels: count), big endian.
    if (images.size() < 16 || be32(images.data()) != 0x803 || be32(images.data() + 8) != 28 ||
        be32(images.data() + 12) != 28 || labels.size() < 8 || be32(labels.data()) != 0x801) {
        std::fprintf(stderr, "jetson_inference: %s or %s is not a 28 x 28 IDX image/label file\n",
                     image_file.c_str(), label_file.c_str());
        return 1;
    }
    const std::size_t count = be32(images.data() + 4);
    if (be32(labels.data() + 4) != count || images.size() != 16 + count * 784 ||
        labels.size() != 8 + count) {
        std::fprintf(stderr,
                     "jetson_inference: %s and %s disagree on the image count or are "
                     "truncated\n",
                     image_file.c_str(), label_file.c_str());
        return 1;
    }
    if (wanted < 1 || static_cast<std::size_t>(wanted) > count) {
        std::fprintf(stderr, "jetson_inference: TEST_IMAGES must be 1..%zu\n", count);
        return 1;
    }
    const auto n = static_cast<std::size_t>(wanted);
    std::vector<float> x(n * 784);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(images[16 + i]) / 255.0f;

    // Inference: one image at a time, as a device classifying what its camera sees.
    std::size_t correct = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        const std::array<float, 10> y =
            model.predict(std::span<const float, 784>(x.data() + i * 784, 784));
        std::size_t best = 0;
        for (std::size_t k = 1; k < 10; ++k)
            if (y[k] > y[best]) best = k;
        correct += best == labels[8 + i] ? 1u : 0u;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("jetson_inference: %zu test images, %.2f us per image (StaticModel, batch 1, "
                "%zu weights embedded from %s)\n",
                n, 1e6 * seconds / static_cast<double>(n), fashion_mnist_mlp128::float_count,
                fashion_mnist_mlp128::source);
    std::printf("test accuracy: %.2f%%\n",
                100.0 * static_cast<double>(correct) / static_cast<double>(n));
    return 0;
}
