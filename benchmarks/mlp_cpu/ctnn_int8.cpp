// mlp_cpu: ctnn's int8 inference (QuantizedModel, model/quantized.hpp) of workloads A, B and C:
// the fp32 model of mlp_cpu/ctnn.cpp quantized with its benchmark batch as calibration data,
// then the same inference and batch-1 latency passes. No training rows (int8 is inference only).
// On eigen::Executor with int8 GEMMs for every Dense and Conv2D stage (AVX2 or portable kernels:
// no VNNI or AMX yet), one thread: QuantizedModel does not split batches.
#include "../common/bench.hpp"

#include "nets.hpp"

#include <ctnn/ctnn.hpp>

#include <span>

namespace bench {
namespace {

template <class Net>
void run_workload(Recorder& r, const Workload& w) {
    if (Net::in_size != w.in() || Net::out_size != w.out()) throw std::logic_error("widths");
    ctnn::Model<Net> model(ctnn::device::cpu());
    model.init(42);
    const Data d = make_data(w, w.batch);
    const std::span<const float> x(d.x);
    ctnn::QuantizedModel<Net> q = ctnn::quantize(model, x);
    q.forward(x, w.batch); // sizes the workspace before timing
    r.measure(w, Pass::infer, w.batch, [&] { keep(q.forward(x, w.batch).data()[0]); });
    const std::span<const float> x1 = x.first(w.in());
    r.measure(w, Pass::latency, 1, [&] { keep(q.forward(x1, 1).data()[0]); });
}

} // namespace

void run_ctnn_int8(Recorder& r) {
    r.note("ctnn-int8: QuantizedModel, AVX2 or portable int8 GEMMs (no VNNI/AMX), one thread; its "
           "ctnn/impl column is int8's time over fp32 ctnn's (< 1: int8 is faster)");
    if (r.wants(workload_a())) run_workload<NetA>(r, workload_a());
    if (r.wants(workload_b())) run_workload<NetB>(r, workload_b());
    if (r.wants(workload_c())) run_workload<NetC>(r, workload_c());
}

} // namespace bench
