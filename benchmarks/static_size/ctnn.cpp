// The MLP as a ctnn::StaticModel on the embedded checkpoint.
#include "common.hpp"

#include <ctnn/static.hpp>

using Net = ctnn::Sequential<ctnn::Input<784>, ctnn::Dense<128>, ctnn::ReLU, ctnn::Dense<10>>;
static ctnn::StaticModel<Net, 1, ctnn::EmbeddedParameters<fashion_mnist_mlp128>> model;

int main() {
    float x[784];
    while (read_image(x)) print_class(model.predict(x).data());
}
