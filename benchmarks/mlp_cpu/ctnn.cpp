// mlp_cpu: ctnn through its public step API (docs/training.md): Model<Net>::forward, loss,
// backward, update with plain SGD. Workloads A and B run on the fused CPU path (backend/cpu),
// C (convolutions) on eigen::Executor, split by batch between ctnn's threads (cpu::BatchParallel).
// Inputs are used in place (ctnn reads [batch, in] row-major buffers directly); every buffer is
// allocated by reserve() before timing.
#include "../common/bench.hpp"

#include "nets.hpp"

#include <ctnn/ctnn.hpp>

#include <Eigen/Core>

#include <span>

namespace bench {
namespace {

template <class Net, class Loss>
void run_workload(Recorder& r, const Workload& w, Loss loss) {
    if (Net::in_size != w.in() || Net::out_size != w.out()) throw std::logic_error("widths");
    ctnn::Model<Net> model(ctnn::device::cpu());
    model.init(42);
    ctnn::OptimizerState<ctnn::optim::SGD> state(ctnn::optim::SGD{.lr = sgd_lr}, Net::param_count);
    model.reserve(w.batch);
    const Data d = make_data(w, w.batch);
    const ctnn::loss::Targets<float> targets{d.labels, d.values};
    const std::span<const float> x(d.x);

    r.measure(w, Pass::train, w.batch, [&] {
        model.forward(x, w.batch, ctnn::Mode::training);
        keep(model.loss(loss, targets));
        model.backward();
        model.update(state, sgd_lr);
    });
    r.measure(w, Pass::infer, w.batch,
              [&] { keep(model.forward(x, w.batch, ctnn::Mode::inference).data()[0]); });
    const std::span<const float> x1 = x.first(w.in());
    r.measure(w, Pass::latency, 1,
              [&] { keep(model.forward(x1, 1, ctnn::Mode::inference).data()[0]); });
}

} // namespace

void run_ctnn(Recorder& r) {
    // ctnn's own threads (OMP_NUM_THREADS, pinned by mlp_cpu) split each batch: A and B on the
    // fused executor, C on eigen::Executor per batch part (cpu::BatchParallel). Eigen's GEMMs
    // inside a part stay single-threaded, as they are in a library build without OpenMP.
    Eigen::setNbThreads(1);
    r.note("ctnn::num_threads()=" + std::to_string(ctnn::num_threads()) + ", Eigen " +
           std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
           std::to_string(EIGEN_MINOR_VERSION) + " GEMMs single-threaded inside each batch part");
    if (r.wants(workload_a()))
        run_workload<NetA>(r, workload_a(), ctnn::loss::SoftmaxCrossEntropy{});
    if (r.wants(workload_b())) run_workload<NetB>(r, workload_b(), ctnn::loss::MSE{});
    if (r.wants(workload_c()))
        run_workload<NetC>(r, workload_c(), ctnn::loss::SoftmaxCrossEntropy{});
}

} // namespace bench
