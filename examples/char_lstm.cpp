// A character-level language model: an LSTM reads 32 characters and predicts the next one. It
// trains on the GNU General Public License version 3 as Debian ships it
// (/usr/share/common-licenses/GPL-3, package base-files, present on every Debian system: 35 KB of
// ASCII), reports the perplexity of each epoch on the training part (the first 90%) and on the
// held-out rest, and then writes text sampled from the trained model.
//
//   char_lstm [TEXT_FILE] [EPOCHS] [SAMPLE_CHARS]
//
// Any ASCII text works: its characters must be printable ASCII, newlines or tabs (read as
// spaces); another byte is an error naming its offset, never dropped.
#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

using namespace ctnn;

constexpr std::size_t context = 32; // characters the model reads
constexpr std::size_t vocab = 96;   // '\n' and the 95 printable ASCII characters

// The window of token ids -> 32-value vectors -> LSTM -> the logits of the next character.
using Net = Sequential<Input<context>, Embedding<vocab, 32>, LSTM<128>, Dense<vocab>>;

namespace {

int token(unsigned char c) {
    if (c == '\n') return 0;
    if (c == '\t') c = ' ';
    if (c >= ' ' && c <= '~') return c - ' ' + 1;
    return -1;
}
char character(std::size_t id) { return id == 0 ? '\n' : static_cast<char>(' ' + id - 1); }

std::vector<int> read_tokens(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(path, "cannot open the text file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int> ids;
    ids.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') continue; // CR LF line ends read as LF
        const int t = token(static_cast<unsigned char>(text[i]));
        if (t < 0) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[i]));
            throw io_error(path, i,
                           std::string("byte ") + hex +
                               " is not printable ASCII, a newline or a tab (the model's "
                               "vocabulary)");
        }
        ids.push_back(t);
    }
    if (ids.size() < 10 * (context + 1))
        throw io_error(path, "the text is too short to train on (" + std::to_string(ids.size()) +
                                 " characters)");
    return ids;
}

/// Every window of `context` ids in [begin, end) and the id after it.
Dataset windows(const std::vector<int>& ids, std::size_t begin, std::size_t end) {
    Dataset d;
    d.feature_count = context;
    d.sample_shape = {context};
    for (std::size_t i = begin; i + context < end; ++i) {
        for (std::size_t k = 0; k < context; ++k) d.features.push_back(float(ids[i + k]));
        d.labels.push_back(ids[i + context]);
    }
    return d;
}

} // namespace

int main(int argc, char** argv) try {
    const std::string path = argc > 1 ? argv[1] : "/usr/share/common-licenses/GPL-3";
    const std::size_t epochs = argc > 2 ? std::stoul(argv[2]) : 8;
    const std::size_t sample_chars = argc > 3 ? std::stoul(argv[3]) : 600;
    if (std::getenv("CTNN_NUM_THREADS") == nullptr && std::getenv("OMP_NUM_THREADS") == nullptr)
        set_num_threads(0);

    const std::vector<int> ids = read_tokens(path);
    const std::size_t split = ids.size() * 9 / 10;
    const Dataset train_set = windows(ids, 0, split);
    const Dataset held_out = windows(ids, split, ids.size());
    std::cout << path << ": " << ids.size() << " characters; " << train_set.size()
              << " training windows, " << held_out.size() << " held out; " << num_threads()
              << " CPU thread(s)\n"
              << describe<Net>(loss::SoftmaxCrossEntropy{});

    Model<Net> model(device::best());
    model.init(1);
    const auto history =
        train(model, train_set, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 3e-3f},
              {.epochs = epochs,
               .batch = 128,
               .seed = 2,
               .validation = held_out,
               .schedule = optim::CosineLR{.t_max = epochs, .eta_min = 1e-4f},
               .clip_grad_norm = 1.0f});

    // Perplexity: exp of the mean cross-entropy per predicted character (1 = certain, 96 = a
    // uniform guess over the vocabulary).
    for (const auto& e : history.epochs)
        std::printf("epoch %zu: perplexity %.2f (training), %.2f (held out)\n", e.epoch,
                    std::exp(e.train.loss), std::exp(e.validation.loss));

    // Sampling: start from the text's first window, draw each next character from the softmax
    // of the logits at temperature 0.8, slide the window.
    std::vector<float> window(ids.begin(), ids.begin() + context);
    std::string out(ids.begin(), ids.begin() + context);
    std::transform(ids.begin(), ids.begin() + context, out.begin(),
                   [](int t) { return character(static_cast<std::size_t>(t)); });
    std::mt19937_64 rng(7);
    const float temperature = 0.8f;
    for (std::size_t n = 0; n < sample_chars; ++n) {
        const std::vector<float> logits = model.predict(window);
        const float top = *std::max_element(logits.begin(), logits.end());
        std::vector<double> p(vocab);
        for (std::size_t k = 0; k < vocab; ++k) p[k] = std::exp((logits[k] - top) / temperature);
        std::discrete_distribution<std::size_t> pick(p.begin(), p.end());
        const std::size_t next = pick(rng);
        out += character(next);
        window.erase(window.begin());
        window.push_back(float(next));
    }
    std::cout << "sampled text:\n" << out << "\n";
    if (!history.epochs.empty())
        std::printf("held-out perplexity: %.2f\n", std::exp(history.epochs.back().validation.loss));
    return 0;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
}
