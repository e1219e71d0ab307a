// StaticModel as an embedded program uses it: compiled with -fno-exceptions -fno-rtti
// (tests/CMakeLists.txt), <ctnn/static.hpp> only, and no heap allocation after construction:
// every operator new and (with glibc, outside the sanitizers) every malloc, calloc, realloc,
// aligned_alloc and posix_memalign is counted, and predict() must leave the counts unchanged.
// The outputs are checked against plain double-precision loops over the same weights. The
// counters are checked too: an allocation made on purpose must show.
// A ctest test (static.noexcept): exit status 0 when every check holds.
#include <ctnn/static.hpp>

#include "mlp_shuffled.hpp" // ctnn_embed_checkpoint(tests/static/mlp_shuffled.safetensors)

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <vector>

#if defined(__cpp_exceptions) || defined(__GXX_RTTI)
#error "tests/static/noexcept.cpp must be compiled with -fno-exceptions -fno-rtti"
#endif

namespace {
std::size_t news = 0;
std::size_t mallocs = 0;
int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::printf("FAILED: %s\n", what);
        ++failures;
    }
}
} // namespace

// ---- counting operator new (every replaceable form) ----------------------------------------
void* operator new(std::size_t n) {
    ++news;
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) std::abort();
    return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
    ++news;
    void* p =
        std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) &
                                                            ~(static_cast<std::size_t>(a) - 1));
    if (p == nullptr) std::abort();
    return p;
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// ---- counting malloc and friends (glibc; not under the sanitizers, which own them) -----------
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CTNN_TEST_COUNTS_MALLOC 1
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t n) {
    ++mallocs;
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
    ++mallocs;
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
    ++mallocs;
    return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
    ++mallocs;
    return __libc_memalign(a, n);
}
int posix_memalign(void** p, std::size_t a, std::size_t n) {
    ++mallocs;
    *p = __libc_memalign(a, n);
    return *p == nullptr ? 12 /* ENOMEM */ : 0;
}
}
#else
#define CTNN_TEST_COUNTS_MALLOC 0
#endif

namespace {

using Small = ctnn::Sequential<ctnn::Input<5>, ctnn::Dense<7>, ctnn::ReLU, ctnn::Dense<3>>;
using Mnist = ctnn::Sequential<ctnn::Input<784>, ctnn::Dense<128>, ctnn::ReLU, ctnn::Dense<10>>;

/// y = W2 relu(W1 x + b1) + b2 in double, W row-major [out][in] (PyTorch's layout).
template <std::size_t In, std::size_t Hidden, std::size_t Out>
std::array<double, Out> reference(const float* w1, const float* b1, const float* w2,
                                  const float* b2, const float* x) {
    std::array<double, Hidden> h{};
    for (std::size_t j = 0; j < Hidden; ++j) {
        double s = b1[j];
        for (std::size_t i = 0; i < In; ++i) s += double(w1[j * In + i]) * x[i];
        h[j] = s > 0 ? s : 0;
    }
    std::array<double, Out> y{};
    for (std::size_t j = 0; j < Out; ++j) {
        double s = b2[j];
        for (std::size_t i = 0; i < Hidden; ++i) s += double(w2[j * Hidden + i]) * h[i];
        y[j] = s;
    }
    return y;
}

template <std::size_t N>
bool close(const std::array<float, N>& y, const std::array<double, N>& expected) {
    for (std::size_t j = 0; j < N; ++j)
        if (!(std::abs(y[j] - expected[j]) <= 1e-4 * (1.0 + std::abs(expected[j])))) return false;
    return true;
}

const float* tensor(const char* name) {
    for (const ctnn::EmbeddedTensor& t : embedded_test::mlp_shuffled::tensors)
        if (std::strcmp(t.name, name) == 0) return embedded_test::mlp_shuffled::data + t.offset;
    std::abort();
}

// Objects with static storage: nothing on the heap, as on a microcontroller.
ctnn::StaticModel<Small, 1, ctnn::EmbeddedParameters<embedded_test::mlp_shuffled>> small;
ctnn::StaticModel<Mnist, 2> mnist;

} // namespace

int main() {
    // The 784-128-10 model's owned parameters, written in place.
    const std::span<float, Mnist::param_count> p = mnist.parameters();
    for (std::size_t i = 0; i < p.size(); ++i)
        p[i] = 0.05f * std::sin(0.37f * static_cast<float>(i)) + (i % 3 == 0 ? 0.01f : -0.01f);
    std::array<float, 2 * 784> x{};
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.11f * static_cast<float>(i));
    std::array<float, 5> xs{0.5f, -1.0f, 0.25f, 2.0f, -0.75f};
    std::array<float, 2 * 10> y2{};

    const std::size_t news0 = news, mallocs0 = mallocs;
    const std::array<float, 3> ys = small.predict(xs);
    const std::array<float, 10> ym = mnist.predict(std::span<const float, 784>(x.data(), 784));
    const ctnn::Status status = mnist.predict_batch(x, y2);
    const ctnn::Status refused = mnist.predict_batch(std::span<const float>(x).first(700), y2);
    const std::size_t news1 = news, mallocs1 = mallocs;

    check(news1 == news0, "predict() called operator new");
    check(mallocs1 == mallocs0, "predict() called malloc");
    check(status == ctnn::Status::ok, "predict_batch of 2 samples");
    check(refused == ctnn::Status::size_mismatch, "predict_batch of 700 values");
    check(close(ys, reference<5, 7, 3>(tensor("0.weight"), tensor("0.bias"), tensor("2.weight"),
                                       tensor("2.bias"), xs.data())),
          "the embedded model's output");
    const float* w = p.data();
    const auto expected0 = reference<784, 128, 10>(w, w + 100352, w + 100480, w + 101760, x.data());
    const auto expected1 =
        reference<784, 128, 10>(w, w + 100352, w + 100480, w + 101760, x.data() + 784);
    std::array<float, 10> second{};
    std::memcpy(second.data(), y2.data() + 10, sizeof second);
    check(close(ym, expected0), "the 784-128-10 model, one sample");
    check(close(second, expected1), "the 784-128-10 model, second sample of a batch");

    // The counters see allocations.
    {
        std::vector<int> v(10, 1);
        check(news > news1, "operator new is counted");
        void* (*volatile m)(std::size_t) = std::malloc;
        void* q = m(16);
        check(!CTNN_TEST_COUNTS_MALLOC || mallocs > mallocs1, "malloc is counted");
        std::free(q);
        check(v[9] == 1, "vector");
    }
    std::printf("static.noexcept: %s (allocations during predict: %zu new, %zu malloc%s)\n",
                failures == 0 ? "passed" : "FAILED", news1 - news0, mallocs1 - mallocs0,
                CTNN_TEST_COUNTS_MALLOC ? "" : " not counted here");
    return failures == 0 ? 0 : 1;
}
