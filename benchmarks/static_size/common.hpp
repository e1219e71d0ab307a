// benchmarks/static_size: three programs that differ only in how they compute a 784-128-10 MLP's
// output from the same embedded weights (fashion_mnist_mlp128.hpp, made by ctnn-embed.cmake):
// null.cpp (no computation: the baseline), hand.cpp (plain loops), ctnn.cpp (StaticModel).
// scripts/static-size.sh builds them and prints their code size beyond the weights.
#pragma once
#include "fashion_mnist_mlp128.hpp"

#include <cstdio>

/// Reads one image (784 floats) from stdin; false at the end.
inline bool read_image(float (&x)[784]) { return std::fread(x, sizeof(float), 784, stdin) == 784; }

/// Prints the index of the largest of 10 outputs.
inline void print_class(const float* y) {
    int best = 0;
    for (int k = 1; k < 10; ++k)
        if (y[k] > y[best]) best = k;
    std::printf("%d\n", best);
}
