// mlp_cpu: dlib 19.24 (Debian libdlib-dev), the nested-template DNN API. dlib's fc layers call
// BLAS (Debian links OpenBLAS through libblas.so.3); ReLU and the losses are dlib's own loops.
// A training step is compute_parameter_gradients (forward, loss, backward) plus update_parameters
// with plain SGD solvers (no weight decay, no momentum), on a tensor converted once before timing;
// inference is forward() on that tensor.
#include "../common/bench.hpp"

#include <dlib/dnn.h>

namespace bench {
namespace {

using NetA = dlib::loss_multiclass_log<
    dlib::fc<10, dlib::relu<dlib::fc<128, dlib::input<dlib::matrix<float>>>>>>;
using NetB = dlib::loss_mean_squared_multioutput<dlib::fc<
    16, dlib::relu<dlib::fc<
            64, dlib::relu<dlib::fc<
                    64, dlib::relu<dlib::fc<
                            64, dlib::relu<dlib::fc<64, dlib::input<dlib::matrix<float>>>>>>>>>>>>;

// Workload C: con's default padding for stride 1 is nr/2 ("same"); max_pool<2, 2, 2, 2> has
// none. dlib's dropout layer keeps its default rate (0.5; a rate does not change the work) and,
// unlike the other implementations, also drops in forward() (dlib swaps it for a multiply layer
// for inference): negligible next to the convolutions.
template <long N, class Sub>
using conv_relu_pool = dlib::max_pool<2, 2, 2, 2, dlib::relu<dlib::con<N, 3, 3, 1, 1, Sub>>>;
using NetC = dlib::loss_multiclass_log<dlib::fc<
    10, dlib::dropout<dlib::relu<dlib::fc<
            128, conv_relu_pool<64, conv_relu_pool<32, dlib::input<dlib::matrix<float>>>>>>>>>;

template <class Net, class Label>
void run_workload(Recorder& r, const Workload& w, const std::vector<Label>& labels, const Data& d) {
    Net net;
    // MLPs take [in x 1] column samples; the CNN 28 x 28 images (one channel).
    const long rows = w.is_mlp() ? static_cast<long>(w.in()) : 28;
    const long cols = w.is_mlp() ? 1 : 28;
    std::vector<dlib::matrix<float>> samples(w.batch);
    for (std::size_t b = 0; b < w.batch; ++b) {
        samples[b].set_size(rows, cols);
        for (std::size_t i = 0; i < w.in(); ++i)
            samples[b](static_cast<long>(i)) = d.x[b * w.in() + i];
    }
    dlib::resizable_tensor x, x1;
    net.to_tensor(samples.begin(), samples.end(), x);
    net.to_tensor(samples.begin(), samples.begin() + 1, x1);
    std::vector<dlib::sgd> solvers(Net::num_computational_layers, dlib::sgd(0.0f, 0.0f));

    r.measure(w, Pass::train, w.batch, [&] {
        keep(net.compute_parameter_gradients(x, labels.begin()));
        net.update_parameters(solvers, sgd_lr);
    });
    r.measure(w, Pass::infer, w.batch, [&] { keep(net.forward(x).host()[0]); });
    r.measure(w, Pass::latency, 1, [&] { keep(net.forward(x1).host()[0]); });
}

} // namespace

void run_dlib(Recorder& r) {
    if (r.wants(workload_a())) {
        const Data d = make_data(workload_a(), workload_a().batch);
        std::vector<unsigned long> labels(d.labels.begin(), d.labels.end());
        run_workload<NetA>(r, workload_a(), labels, d);
    }
    if (r.wants(workload_b())) {
        const Workload& w = workload_b();
        const Data d = make_data(w, w.batch);
        std::vector<dlib::matrix<float>> targets(w.batch);
        for (std::size_t b = 0; b < w.batch; ++b) {
            targets[b].set_size(static_cast<long>(w.out()), 1);
            for (std::size_t i = 0; i < w.out(); ++i)
                targets[b](static_cast<long>(i)) = d.values[b * w.out() + i];
        }
        run_workload<NetB>(r, w, targets, d);
    }
    if (r.wants(workload_c())) {
        const Data d = make_data(workload_c(), workload_c().batch);
        std::vector<unsigned long> labels(d.labels.begin(), d.labels.end());
        run_workload<NetC>(r, workload_c(), labels, d);
    }
}

} // namespace bench
