// mlp_cpu: the same networks written by hand with Eigen, as a competent user would: one
// column-major matrix per layer (W: out x in, so a layer is one GEMM W * X over the batch), bias
// broadcast with colwise(), ReLU with cwiseMax, its derivative with select, SGD with one
// expression per tensor; every buffer allocated before timing, every product with noalias().
#include "../common/bench.hpp"

#include <Eigen/Core>

#include <cmath>
#include <random>

namespace bench {
namespace {

using Mat = Eigen::MatrixXf;
using Vec = Eigen::VectorXf;
using ConstMap = Eigen::Map<const Mat>;

class EigenMlp {
public:
    EigenMlp(const std::vector<std::size_t>& widths, std::size_t batch) {
        std::mt19937 rng(42);
        for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
            const auto in = static_cast<Eigen::Index>(widths[l]);
            const auto out = static_cast<Eigen::Index>(widths[l + 1]);
            const float bound = 1.0f / std::sqrt(static_cast<float>(in));
            std::uniform_real_distribution<float> u(-bound, bound);
            Mat w(out, in);
            for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
            Vec b(out);
            for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = u(rng);
            W_.push_back(w);
            b_.push_back(b);
            dW_.emplace_back(out, in);
            db_.emplace_back(out);
            H_.emplace_back(out, static_cast<Eigen::Index>(batch));
        }
        const auto widest =
            static_cast<Eigen::Index>(*std::max_element(widths.begin() + 1, widths.end()));
        G_.resize(widest, static_cast<Eigen::Index>(batch));
        Gp_.resize(widest, static_cast<Eigen::Index>(batch));
    }

    /// Forward pass of `batch` samples x (in x batch, column-major = [batch, in] row-major).
    /// Hidden layers keep their ReLU output in H_ (its sign is the ReLU mask for backward).
    const Mat& forward(const float* x, Eigen::Index batch) {
        x_ = x;
        batch_ = batch;
        for (std::size_t l = 0; l < W_.size(); ++l) {
            Mat& h = H_[l];
            h.resize(W_[l].rows(), batch); // no-op after the first call at this batch
            if (l == 0) h.noalias() = W_[l] * ConstMap(x, W_[l].cols(), batch);
            else h.noalias() = W_[l] * H_[l - 1];
            if (l + 1 < W_.size()) h = (h.colwise() + b_[l]).cwiseMax(0.0f);
            else h.colwise() += b_[l];
        }
        return H_.back();
    }

    /// Softmax cross-entropy: mean loss; G_ = dLoss/dLogits.
    float softmax_ce(const std::int32_t* labels) {
        const Mat& y = H_.back();
        auto g = G_.topRows(y.rows());
        float sum = 0;
        for (Eigen::Index b = 0; b < batch_; ++b) {
            const float m = y.col(b).maxCoeff();
            g.col(b) = (y.col(b).array() - m).exp().matrix();
            const float s = g.col(b).sum();
            sum += std::log(s) + m - y(labels[b], b);
            g.col(b) /= s * static_cast<float>(batch_);
            g(labels[b], b) -= 1.0f / static_cast<float>(batch_);
        }
        return sum / static_cast<float>(batch_);
    }

    /// Mean squared error over all outputs: mean loss; G_ = dLoss/dY.
    float mse(const float* values) {
        const Mat& y = H_.back();
        const ConstMap t(values, y.rows(), batch_);
        auto g = G_.topRows(y.rows());
        g = y - t;
        const float n = static_cast<float>(y.size());
        const float loss = g.squaredNorm() / n;
        g *= 2.0f / n;
        return loss;
    }

    /// Backward pass from G_ and an SGD step.
    void backward_and_sgd(float lr) {
        for (std::size_t l = W_.size(); l-- > 0;) {
            const auto out = W_[l].rows(), in = W_[l].cols();
            auto g = G_.topRows(out);
            if (l == 0) dW_[l].noalias() = g * ConstMap(x_, in, batch_).transpose();
            else dW_[l].noalias() = g * H_[l - 1].transpose();
            db_[l].noalias() = g.rowwise().sum();
            if (l > 0) {
                auto gp = Gp_.topRows(in);
                gp.noalias() = W_[l].transpose() * g;
                gp = (H_[l - 1].array() > 0.0f).select(gp, 0.0f);
                G_.swap(Gp_);
            }
        }
        for (std::size_t l = 0; l < W_.size(); ++l) {
            W_[l] -= lr * dW_[l];
            b_[l] -= lr * db_[l];
        }
    }

private:
    std::vector<Mat> W_, dW_, H_;
    std::vector<Vec> b_, db_;
    Mat G_, Gp_;
    const float* x_ = nullptr;
    Eigen::Index batch_ = 0;
};

void run_workload(Recorder& r, const Workload& w) {
    EigenMlp net(w.widths, w.batch);
    const Data d = make_data(w, w.batch);
    const auto B = static_cast<Eigen::Index>(w.batch);
    r.measure(w, Pass::train, w.batch, [&] {
        net.forward(d.x.data(), B);
        keep(w.classification ? net.softmax_ce(d.labels.data()) : net.mse(d.values.data()));
        net.backward_and_sgd(sgd_lr);
    });
    r.measure(w, Pass::infer, w.batch, [&] { keep(net.forward(d.x.data(), B)(0, 0)); });
    EigenMlp one(w.widths, 1);
    r.measure(w, Pass::latency, 1, [&] { keep(one.forward(d.x.data(), 1)(0, 0)); });
}

} // namespace

void run_eigen(Recorder& r) {
    Eigen::setNbThreads(static_cast<int>(r.threads()));
    r.note("Eigen::nbThreads()=" + std::to_string(Eigen::nbThreads()) +
#ifdef _OPENMP
           " (OpenMP)"
#else
           " (no OpenMP: single-threaded)"
#endif
    );
    if (r.wants(workload_a())) run_workload(r, workload_a());
    if (r.wants(workload_b())) run_workload(r, workload_b());
    if (r.wants(workload_c()))
        r.note("workload C: not implemented (the hand-written Eigen peer covers the MLPs only)");
}

} // namespace bench
