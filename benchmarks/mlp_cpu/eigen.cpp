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

/// Workload C written by hand with Eigen, the textbook way: activations as channels x (batch,
/// height, width) matrices, each 3 x 3 "same" convolution as im2col + one GEMM (W: out x in*9),
/// col2im for its input gradient, 2 x 2 max pooling that records each window's argmax, Dropout
/// with a stored mask, then the two Dense layers of the MLP peer. Every buffer is allocated by
/// the constructor.
class EigenCnn {
public:
    EigenCnn(std::size_t batch, float dropout) : B_(static_cast<Eigen::Index>(batch)), p_(dropout) {
        std::mt19937 rng(42);
        const auto init = [&](Mat& w, Vec& b, Eigen::Index out, Eigen::Index fan_in) {
            const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
            std::uniform_real_distribution<float> u(-bound, bound);
            w.resize(out, fan_in);
            for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
            b.resize(out);
            for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = u(rng);
        };
        init(W_[0], b_[0], 32, 1 * 9);
        init(W_[1], b_[1], 64, 32 * 9);
        init(W_[2], b_[2], 128, 64 * 7 * 7);
        init(W_[3], b_[3], 10, 128);
        for (int l = 0; l < 4; ++l) {
            dW_[l].resizeLike(W_[l]);
            db_[l].resizeLike(b_[l]);
        }
        col1_.resize(9, B_ * 784);
        h1_.resize(32, B_ * 784);
        p1_.resize(32, B_ * 196);
        col2_.resize(32 * 9, B_ * 196);
        h2_.resize(64, B_ * 196);
        p2_.resize(64, B_ * 49);
        arg1_.resize(static_cast<std::size_t>(p1_.size()));
        arg2_.resize(static_cast<std::size_t>(p2_.size()));
        flat_.resize(64 * 49, B_);
        h3_.resize(128, B_);
        mask_.resize(128, B_);
        logits_.resize(10, B_);
        g4_.resize(10, B_);
        g3_.resize(128, B_);
        gflat_.resize(64 * 49, B_);
        gp2_.resize(64, B_ * 49);
        gh2_.resize(64, B_ * 196);
        gcol2_.resize(32 * 9, B_ * 196);
        gp1_.resize(32, B_ * 196);
        gh1_.resize(32, B_ * 784);
    }

    const Mat& forward(const float* x, bool training) {
        // conv1 (1 -> 32, 28 x 28) + ReLU, pool -> 14 x 14
        im2col(ConstMap(x, 1, B_ * 784), 28, col1_);
        h1_.noalias() = W_[0] * col1_;
        h1_ = (h1_.colwise() + b_[0]).cwiseMax(0.0f);
        pool(h1_, 28, p1_, arg1_);
        // conv2 (32 -> 64, 14 x 14) + ReLU, pool -> 7 x 7
        im2col(p1_, 14, col2_);
        h2_.noalias() = W_[1] * col2_;
        h2_ = (h2_.colwise() + b_[1]).cwiseMax(0.0f);
        pool(h2_, 14, p2_, arg2_);
        // Flatten per sample in (channel, row, column) order, as PyTorch does.
        for (Eigen::Index b = 0; b < B_; ++b)
            for (Eigen::Index c = 0; c < 64; ++c)
                flat_.col(b).segment(c * 49, 49) = p2_.row(c).segment(b * 49, 49).transpose();
        h3_.noalias() = W_[2] * flat_;
        h3_ = (h3_.colwise() + b_[2]).cwiseMax(0.0f);
        if (training && p_ > 0.0f) {
            std::uniform_real_distribution<float> u(0.0f, 1.0f);
            const float keep = 1.0f / (1.0f - p_);
            for (Eigen::Index i = 0; i < mask_.size(); ++i)
                mask_.data()[i] = u(rng_) < p_ ? 0.0f : keep;
            h3_.array() *= mask_.array();
        }
        logits_.noalias() = W_[3] * h3_;
        logits_.colwise() += b_[3];
        training_ = training;
        return logits_;
    }

    float softmax_ce(const std::int32_t* labels) {
        float sum = 0;
        const auto n = static_cast<float>(B_);
        for (Eigen::Index b = 0; b < B_; ++b) {
            const float m = logits_.col(b).maxCoeff();
            g4_.col(b) = (logits_.col(b).array() - m).exp().matrix();
            const float s = g4_.col(b).sum();
            sum += std::log(s) + m - logits_(labels[b], b);
            g4_.col(b) /= s * n;
            g4_(labels[b], b) -= 1.0f / n;
        }
        return sum / n;
    }

    void backward_and_sgd(float lr) {
        dW_[3].noalias() = g4_ * h3_.transpose();
        db_[3] = g4_.rowwise().sum();
        g3_.noalias() = W_[3].transpose() * g4_;
        if (training_ && p_ > 0.0f) g3_.array() *= mask_.array();
        g3_ = (h3_.array() > 0.0f).select(g3_, 0.0f);
        dW_[2].noalias() = g3_ * flat_.transpose();
        db_[2] = g3_.rowwise().sum();
        gflat_.noalias() = W_[2].transpose() * g3_;
        for (Eigen::Index b = 0; b < B_; ++b)
            for (Eigen::Index c = 0; c < 64; ++c)
                gp2_.row(c).segment(b * 49, 49) = gflat_.col(b).segment(c * 49, 49).transpose();
        unpool(gp2_, arg2_, gh2_);
        gh2_ = (h2_.array() > 0.0f).select(gh2_, 0.0f);
        dW_[1].noalias() = gh2_ * col2_.transpose();
        db_[1] = gh2_.rowwise().sum();
        gcol2_.noalias() = W_[1].transpose() * gh2_;
        col2im(gcol2_, 14, gp1_);
        unpool(gp1_, arg1_, gh1_);
        gh1_ = (h1_.array() > 0.0f).select(gh1_, 0.0f);
        dW_[0].noalias() = gh1_ * col1_.transpose();
        db_[0] = gh1_.rowwise().sum();
        for (int l = 0; l < 4; ++l) {
            W_[l] -= lr * dW_[l];
            b_[l] -= lr * db_[l];
        }
    }

    // Parameters and gradients, for checking against another implementation.
    Mat W_[4], dW_[4];
    Vec b_[4], db_[4];

private:
    /// f(c, row, j, source) for every channel c < C, 3 x 3 tap (row c * 9 + tap of the im2col
    /// matrix) and output pixel j of B samples of n x n: source is the input pixel the tap reads
    /// (zero padding 1: -1 outside the image).
    template <class F>
    void for_each_tap(Eigen::Index C, Eigen::Index n, F&& f) const {
        for (Eigen::Index b = 0; b < B_; ++b)
            for (Eigen::Index y = 0; y < n; ++y)
                for (Eigen::Index x = 0; x < n; ++x) {
                    const Eigen::Index j = (b * n + y) * n + x;
                    for (Eigen::Index c = 0; c < C; ++c)
                        for (Eigen::Index ki = 0; ki < 3; ++ki)
                            for (Eigen::Index kj = 0; kj < 3; ++kj) {
                                const Eigen::Index sy = y + ki - 1, sx = x + kj - 1;
                                const bool inside = sy >= 0 && sy < n && sx >= 0 && sx < n;
                                f(c, c * 9 + ki * 3 + kj, j, inside ? (b * n + sy) * n + sx : -1);
                            }
                }
    }
    /// col (C*9 x B*n*n) from a (C x B*n*n) image, 3 x 3 taps, zero padding 1.
    template <class In>
    void im2col(const In& in, Eigen::Index n, Mat& col) const {
        for_each_tap(in.rows(), n,
                     [&](Eigen::Index c, Eigen::Index row, Eigen::Index j, Eigen::Index src) {
                         col(row, j) = src >= 0 ? in(c, src) : 0.0f;
                     });
    }
    /// The transpose of im2col: out (C x B*n*n) = the sum of col's entries over the taps.
    void col2im(const Mat& col, Eigen::Index n, Mat& out) const {
        out.setZero();
        for_each_tap(out.rows(), n,
                     [&](Eigen::Index c, Eigen::Index row, Eigen::Index j, Eigen::Index src) {
                         if (src >= 0) out(c, src) += col(row, j);
                     });
    }
    /// 2 x 2 max pooling with stride 2 of (C x B*n*n) into (C x B*(n/2)^2), recording the argmax.
    void pool(const Mat& in, Eigen::Index n, Mat& out, std::vector<Eigen::Index>& arg) const {
        const Eigen::Index m = n / 2;
        for (Eigen::Index j = 0; j < out.cols(); ++j) {
            const Eigen::Index b = j / (m * m), y = j / m % m, x = j % m;
            const Eigen::Index base = (b * n + 2 * y) * n + 2 * x;
            const Eigen::Index taps[4] = {base, base + 1, base + n, base + n + 1};
            for (Eigen::Index c = 0; c < in.rows(); ++c) {
                Eigen::Index best = taps[0];
                for (int t = 1; t < 4; ++t)
                    if (in(c, taps[t]) > in(c, best)) best = taps[t];
                out(c, j) = in(c, best);
                arg[static_cast<std::size_t>(j * in.rows() + c)] = best;
            }
        }
    }
    void unpool(const Mat& g, const std::vector<Eigen::Index>& arg, Mat& out) const {
        out.setZero();
        for (Eigen::Index j = 0; j < g.cols(); ++j)
            for (Eigen::Index c = 0; c < g.rows(); ++c)
                out(c, arg[static_cast<std::size_t>(j * g.rows() + c)]) += g(c, j);
    }

    Eigen::Index B_;
    float p_;
    bool training_ = false;
    std::mt19937 rng_{7};
    std::vector<Eigen::Index> arg1_, arg2_;
    Mat col1_, h1_, p1_, col2_, h2_, p2_, flat_, h3_, mask_, logits_;
    Mat g4_, g3_, gflat_, gp2_, gh2_, gcol2_, gp1_, gh1_;
};

void run_cnn(Recorder& r, const Workload& w) {
    EigenCnn net(w.batch, 0.3f);
    const Data d = make_data(w, w.batch);
    r.measure(w, Pass::train, w.batch, [&] {
        net.forward(d.x.data(), true);
        keep(net.softmax_ce(d.labels.data()));
        net.backward_and_sgd(sgd_lr);
    });
    r.measure(w, Pass::infer, w.batch, [&] { keep(net.forward(d.x.data(), false)(0, 0)); });
    EigenCnn one(1, 0.3f);
    r.measure(w, Pass::latency, 1, [&] { keep(one.forward(d.x.data(), false)(0, 0)); });
}

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
    if (r.wants(workload_c())) run_cnn(r, workload_c());
}

} // namespace bench
