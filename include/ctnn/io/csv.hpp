// ctnn/io/csv.hpp — reader for numeric CSV files (features plus a label or regression targets).
//
// Accepted input: one record per line (LF or CRLF, last newline optional, a UTF-8 byte-order mark
// is skipped, empty lines are skipped); fields separated by one delimiter character; spaces and
// tabs around a field are ignored. Fields may be quoted RFC 4180 style ("a,b", "say ""hi""",
// newlines inside quotes); a quote inside an unquoted field is an error. All data fields must be
// finite numbers; a header row (detected or declared) may hold any text. gzip files are read
// transparently. Every problem throws ctnn::io_error naming the file, line and column.
#pragma once
#include "../config.hpp"
#include "../core/dataset.hpp"
#include "../core/error.hpp"
#include "detail/bytes.hpp"
#include "detail/file.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ctnn::io {

/// What the label column(s) of a CSV file hold.
enum class CsvTask : std::uint8_t {
    classification, ///< one column of class indices (integers >= 0) -> Dataset::labels
    regression,     ///< target_count columns of numbers -> Dataset::targets
};

/// How read_csv interprets a file.
struct CsvOptions {
    char delimiter = ','; ///< field separator (',', ';', '\t', ' ', ...; not '"' or a newline)
    std::optional<bool> header{}; ///< first row is a header; nullopt: yes if it has a non-number
    int label_column = -1;        ///< 0-based column of the label (or first target); negative
                                  ///< values count from the end (-1 = last column)
    CsvTask task = CsvTask::classification; ///< class labels or regression targets
    int target_count = 1; ///< regression: number of target columns, from label_column on, or the
                          ///< last target_count columns when label_column is -1
};

namespace detail {

/// One field of a CSV record: its text (quotes removed) and where it starts (1-based).
struct CsvField {
    std::string_view text;
    std::size_t line = 0;
    std::size_t column = 0;
};

/// Splits a CSV buffer into records. Works in place: quoted fields are unescaped inside the
/// buffer, so fields are views into it and no per-field allocation happens.
class CsvTokenizer {
public:
    CsvTokenizer(std::span<char> buf, char delimiter, std::string file)
        : buf_(buf), delim_(delimiter), file_(std::move(file)) {
        if (buf_.size() >= 3 && static_cast<unsigned char>(buf_[0]) == 0xef &&
            static_cast<unsigned char>(buf_[1]) == 0xbb &&
            static_cast<unsigned char>(buf_[2]) == 0xbf)
            pos_ = 3; // UTF-8 byte-order mark
    }

    /// Reads the next non-empty record into `fields`; false at end of input.
    bool next(std::vector<CsvField>& fields) {
        fields.clear();
        // Skip empty lines.
        for (;;) {
            if (pos_ >= buf_.size()) return false;
            if (buf_[pos_] == '\n') {
                ++pos_;
                ++line_;
            } else if (buf_[pos_] == '\r' && pos_ + 1 < buf_.size() && buf_[pos_ + 1] == '\n') {
                pos_ += 2;
                ++line_;
            } else {
                break;
            }
        }
        for (std::size_t column = 1;; ++column) {
            fields.push_back(read_field(column));
            if (pos_ >= buf_.size()) return true;
            if (buf_[pos_] == delim_) {
                ++pos_;
                continue;
            }
            // At a line end (read_field stops only at a delimiter, a line end or the end).
            pos_ += buf_[pos_] == '\r' ? std::size_t{2} : std::size_t{1};
            ++line_;
            return true;
        }
    }

    /// Line number of the next record to be read.
    [[nodiscard]] std::size_t line() const noexcept { return line_; }

private:
    [[noreturn]] void fail(std::size_t line, std::size_t column, const std::string& what) const {
        throw io_error(file_, std::string("line ") + std::to_string(line) + ", column " +
                                  std::to_string(column) + ": " + what);
    }

    bool is_blank(char c) const noexcept { return (c == ' ' || c == '\t') && c != delim_; }

    // Classifies position pos_: 0 = ordinary, 1 = delimiter, 2 = line end (LF or CRLF), 3 = end.
    int boundary() const {
        if (pos_ >= buf_.size()) return 3;
        const char c = buf_[pos_];
        if (c == delim_) return 1;
        if (c == '\n') return 2;
        if (c == '\r') {
            if (pos_ + 1 < buf_.size() && buf_[pos_ + 1] == '\n') return 2;
            fail(line_, current_column_, "carriage return without a following line feed");
        }
        return 0;
    }

    CsvField read_field(std::size_t column) {
        current_column_ = column;
        CsvField f;
        f.line = line_;
        f.column = column;
        while (pos_ < buf_.size() && is_blank(buf_[pos_])) ++pos_;
        if (pos_ < buf_.size() && buf_[pos_] == '"') {
            // Quoted field: unescape "" into " in place; newlines inside count as lines.
            ++pos_;
            const std::size_t start = pos_;
            std::size_t out = pos_;
            for (;;) {
                if (pos_ >= buf_.size())
                    fail(f.line, column, "quoted field is not closed before the end of the file");
                const char c = buf_[pos_];
                if (c == '"') {
                    if (pos_ + 1 < buf_.size() && buf_[pos_ + 1] == '"') {
                        buf_[out++] = '"';
                        pos_ += 2;
                        continue;
                    }
                    ++pos_;
                    break;
                }
                if (c == '\n') ++line_;
                buf_[out++] = c;
                ++pos_;
            }
            f.text = std::string_view(buf_.data() + start, out - start);
            while (pos_ < buf_.size() && is_blank(buf_[pos_])) ++pos_;
            if (boundary() == 0)
                fail(line_, column,
                     std::string("unexpected ") +
                         detail::quote_excerpt(std::string_view(&buf_[pos_], 1)) +
                         " after the closing quote of a quoted field");
            return f;
        }
        const std::size_t start = pos_;
        while (boundary() == 0) {
            if (buf_[pos_] == '"')
                fail(line_, column,
                     "quote character inside an unquoted field (quote the whole field)");
            ++pos_;
        }
        std::size_t end = pos_;
        while (end > start && is_blank(buf_[end - 1])) --end;
        f.text = std::string_view(buf_.data() + start, end - start);
        return f;
    }

    std::span<char> buf_;
    char delim_;
    std::string file_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
    std::size_t current_column_ = 1;
};

/// Parses a finite float (values too small for a float round to zero or a subnormal); nullopt
/// if the text is not exactly one number or is out of the float range.
[[nodiscard]] inline std::optional<float> parse_csv_float(std::string_view s) {
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
        if (!s.empty() && s.front() == '-') return std::nullopt; // "+-1"
    }
    float v = 0.0f;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (end != s.data() + s.size() || s.empty()) return std::nullopt;
    if (ec == std::errc::result_out_of_range) {
        // Underflow is fine (round to zero / subnormal); overflow is not.
        double d = 0.0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
        if (r.ec != std::errc{} || !(std::fabs(d) <= double{std::numeric_limits<float>::max()}))
            return std::nullopt;
        return static_cast<float>(d);
    }
    if (ec != std::errc{} || !std::isfinite(v)) return std::nullopt;
    return v;
}

/// True if the text is number-like: a number, possibly out of the float range, inf or nan.
/// Used to tell a header row from a data row.
[[nodiscard]] inline bool looks_numeric(std::string_view s) {
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) s.remove_prefix(1);
    if (s.empty()) return false;
    double d = 0.0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    return end == s.data() + s.size() &&
           (ec == std::errc{} || ec == std::errc::result_out_of_range);
}

/// Why parse_csv_float rejected a field, for the error message.
[[nodiscard]] inline std::string csv_float_problem(std::string_view s) {
    if (s.empty()) return "empty field (missing value)";
    if (!looks_numeric(s) || s.substr(0, 2) == "+-" || s.substr(0, 2) == "-+")
        return quote_excerpt(s) + " is not a number";
    std::string_view t = s;
    if (t.front() == '+' || t.front() == '-') t.remove_prefix(1);
    double d = 0.0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), d);
    if (r.ec == std::errc{} && !std::isfinite(d))
        return quote_excerpt(s) + " is not a finite number";
    return quote_excerpt(s) + " is out of the float range";
}

/// Parses a class index (an integer in [0, INT32_MAX]); nullopt otherwise.
[[nodiscard]] inline std::optional<std::int32_t> parse_csv_label(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty() || s.front() == '-') return std::nullopt;
    std::int32_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

/// Parses a complete CSV file held in memory (modified in place); `file` names it in errors.
[[nodiscard]] inline Dataset parse_csv(std::span<char> buf, const std::string& file,
                                       const CsvOptions& opt) {
    if (opt.delimiter == '"' || opt.delimiter == '\n' || opt.delimiter == '\r' ||
        opt.delimiter == '\0')
        throw argument_error("read_csv: the delimiter cannot be a quote, a newline or NUL");
    if (opt.target_count < 1)
        throw argument_error(std::string("read_csv: target_count must be >= 1, got ") +
                             std::to_string(opt.target_count));
    if (opt.task == CsvTask::classification && opt.target_count != 1)
        throw argument_error(
            std::string("read_csv: classification uses one label column; target_count is ") +
            std::to_string(opt.target_count));

    CsvTokenizer tok(buf, opt.delimiter, file);
    std::vector<CsvField> fields;
    if (!tok.next(fields)) throw io_error(file, "file is empty (no rows)");

    const std::size_t ncols = fields.size();
    const std::size_t first_line = fields.front().line;
    bool has_header = false;
    if (opt.header.has_value()) {
        has_header = *opt.header;
    } else {
        // A header has a field that is text; empty fields and out-of-range numbers do not make
        // one (they are errors in a data row, reported below).
        for (const CsvField& f : fields)
            if (!f.text.empty() && !looks_numeric(f.text)) has_header = true;
    }

    // Resolve the label / target columns [t0, t0 + nt).
    const auto nt = static_cast<std::size_t>(opt.target_count);
    const auto fail_cols = [&](const std::string& what) {
        throw io_error(file, std::string("line ") + std::to_string(first_line) + ": " + what);
    };
    if (ncols < nt + 1)
        fail_cols(std::string("the file has ") + std::to_string(ncols) +
                  " column(s); it needs at least " + std::to_string(nt + 1) + " (features plus " +
                  std::to_string(nt) +
                  (opt.task == CsvTask::classification ? " label column)" : " target column(s))"));
    const auto sncols = static_cast<long long>(ncols);
    long long lc = opt.label_column < 0 ? sncols + opt.label_column : opt.label_column;
    if (lc < 0 || lc >= sncols)
        fail_cols(std::string("label_column ") + std::to_string(opt.label_column) +
                  std::string(" is out of range for a file with ") + std::to_string(ncols) +
                  " columns");
    if (opt.task == CsvTask::regression && opt.label_column == -1) lc = sncols - opt.target_count;
    const auto t0 = static_cast<std::size_t>(lc);
    if (t0 + nt > ncols)
        fail_cols(std::to_string(nt) + " target columns from column " + std::to_string(t0 + 1) +
                  std::string(" do not fit in ") + std::to_string(ncols) + " columns");

    Dataset ds;
    ds.feature_count = ncols - nt;
    ds.sample_shape = {ds.feature_count};
    const bool classify = opt.task == CsvTask::classification;
    if (!classify) ds.target_count = nt;

    const auto add_row = [&](const std::vector<CsvField>& row) {
        if (row.size() != ncols)
            throw io_error(file, std::string("line ") + std::to_string(row.front().line) +
                                     ": expected " + std::to_string(ncols) +
                                     " columns (as in line " + std::to_string(first_line) +
                                     "), found " + std::to_string(row.size()));
        for (std::size_t c = 0; c < ncols; ++c) {
            const CsvField& f = row[c];
            const bool is_target = c >= t0 && c < t0 + nt;
            if (is_target && classify) {
                const auto label = parse_csv_label(f.text);
                if (!label)
                    throw io_error(file, std::string("line ") + std::to_string(f.line) +
                                             ", column " + std::to_string(f.column) + ": " +
                                             quote_excerpt(f.text) +
                                             " is not a class label (expected an integer >= 0)");
                ds.labels.push_back(*label);
                continue;
            }
            const auto v = parse_csv_float(f.text);
            if (!v)
                throw io_error(file, std::string("line ") + std::to_string(f.line) + ", column " +
                                         std::to_string(f.column) + ": " +
                                         csv_float_problem(f.text));
            (is_target ? ds.targets : ds.features).push_back(*v);
        }
    };

    if (!has_header) add_row(fields);
    while (tok.next(fields)) add_row(fields);
    if (ds.features.empty())
        throw io_error(file, std::string("no data rows (only the header on line ") +
                                 std::to_string(first_line) + ")");
    return ds;
}

} // namespace detail

/// Reads a numeric CSV file (plain or gzip) into a Dataset: every column except the label /
/// target columns is a feature (sample_shape {feature_count}); classification fills labels
/// (integers >= 0), regression fills targets. Throws io_error naming the file, line and column
/// for empty files, non-numbers, bad labels, ragged rows and malformed quoting; throws
/// argument_error for invalid options.
[[nodiscard]] inline Dataset read_csv(const std::filesystem::path& path,
                                      const CsvOptions& options = {}) {
    detail::FileData d = detail::read_file_data(path);
    std::span<char> chars(reinterpret_cast<char*>(d.bytes.data()), d.bytes.size());
    return detail::parse_csv(chars, path.string(), options);
}

} // namespace ctnn::io
