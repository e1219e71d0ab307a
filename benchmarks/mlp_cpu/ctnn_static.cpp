// mlp_cpu: StaticModel (model/static_model.hpp), the embedded-inference type, on workloads A and
// B: the inference and batch-1 latency passes (no training; C is a CNN, which StaticModel does
// not run). Its parameters are owned (a std::array in the object) and filled with fixed values:
// the time does not depend on them. Weights in PyTorch's layout, one dot-product kernel per row
// block (backend/cpu/matvec.hpp), one sample after another, one thread.
#include "../common/bench.hpp"

#include "nets.hpp"

#include <ctnn/static.hpp>

#include <cmath>
#include <memory>
#include <span>
#include <stdexcept>

namespace bench {
namespace {

template <class Net>
void run_workload(Recorder& r, const Workload& w) {
    constexpr std::size_t max_batch = 16384;
    if (Net::in_size != w.in() || Net::out_size != w.out() || w.batch > max_batch)
        throw std::logic_error("widths");
    using Static = ctnn::StaticModel<Net, max_batch>;
    const auto model = std::make_unique<Static>(); // the arena: 2 x 16384 rows of 64 or 128
    const std::span<float, Net::param_count> p = model->parameters();
    for (std::size_t i = 0; i < p.size(); ++i)
        p[i] = 0.05f * std::sin(0.37f * static_cast<float>(i));
    const Data d = make_data(w, w.batch);
    std::vector<float> y(w.batch * Net::out_size);
    r.measure(w, Pass::infer, w.batch, [&] {
        if (model->predict_batch(d.x, y) != ctnn::Status::ok) throw std::logic_error("batch");
        keep(y[0]);
    });
    const std::span<const float, Net::in_size> x1(d.x.data(), Net::in_size);
    r.measure(w, Pass::latency, 1, [&] { keep(model->predict(x1)[0]); });
}

} // namespace

void run_ctnn_static(Recorder& r) {
    r.note("ctnn-static: StaticModel (no heap, weights in PyTorch's layout read in place), one "
           "thread; A and B only (no convolutions)");
    if (r.wants(workload_a())) run_workload<NetA>(r, workload_a());
    if (r.wants(workload_b())) run_workload<NetB>(r, workload_b());
}

} // namespace bench
