// No computation: reads the weights only as far as needed to keep them in the binary.
#include "common.hpp"

int main() {
    float x[784];
    float y[10];
    while (read_image(x)) {
        for (int k = 0; k < 10; ++k)
            y[k] = fashion_mnist_mlp128::data[static_cast<unsigned>(x[k]) %
                                              fashion_mnist_mlp128::float_count];
        print_class(y);
    }
}
