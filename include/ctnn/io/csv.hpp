// ctnn/io/csv.hpp — reader for numeric CSV files (features plus a label or regression targets).
//
// Accepted input: one record per line (LF or CRLF, last newline optional, a UTF-8 byte-order mark
// is skipped, empty lines are skipped); fields separated by one delimiter character; spaces and
// tabs around a field are ignored. Fields may be quoted RFC 4180 style ("a,b", "say ""hi""",
// newlines inside quotes); a quote inside an unquoted field is an error. All data fields must be
// finite numbers; a header row (detected or declared) may hold any text. Header detection takes
// the first row for a header only when none of its fields is number-like, so a typo in the first
// data row is reported, never dropped. Class labels are integers, whole numbers written with a
// point (numpy.savetxt's "1.000000000000000000e+00"), or, on request, class names. Lines before the
// table (scikit-learn's "150,4,setosa,..." line) can be skipped. gzip files are read
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
#include <map>
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
    std::optional<bool> header{}; ///< first row is a header; nullopt: detect it, a header being a
                                  ///< row in which no field is a number (empty fields allowed)
    int label_column = -1;        ///< 0-based column of the label (or first target); negative
                                  ///< values count from the end (-1 = last column)
    CsvTask task = CsvTask::classification; ///< class labels or regression targets
    int target_count = 1; ///< regression: number of target columns, from label_column on, or the
                          ///< last target_count columns when label_column is -1
    int skip_rows = 0;    ///< lines at the start of the file to skip unread, empty ones included
                          ///< (a preamble such as scikit-learn's "150,4,setosa,versicolor,...")
    bool text_labels = false; ///< classification: labels are class names (any text), numbered in
                              ///< sorted byte order; CsvTable::class_names lists them
    std::vector<std::string> class_names{}; ///< classification: the class names in index order
                                            ///< (e.g. the training file's CsvTable::class_names);
                                            ///< labels must be one of them. Implies text_labels
};

/// A CSV file as read_csv_table returns it: the dataset plus what the reader decided about it.
struct CsvTable {
    Dataset data;                          ///< what read_csv returns
    bool header = false;                   ///< a header row was taken (declared or detected)
    std::size_t header_line = 0;           ///< 1-based line of the header; 0 without one
    std::vector<std::string> column_names; ///< the header's fields in file order; empty without
    std::vector<std::string> class_names;  ///< text labels: class i is class_names[i]; else empty

    /// Index of a class name (text labels); nullopt if it is not one of class_names.
    [[nodiscard]] std::optional<std::int32_t> class_index(std::string_view name) const {
        for (std::size_t i = 0; i < class_names.size(); ++i)
            if (class_names[i] == name) return static_cast<std::int32_t>(i);
        return std::nullopt;
    }
};

namespace detail {

/// One field of a CSV record: its text (quotes removed), where it starts (1-based) and whether it
/// was quoted (an unquoted empty last field is what a trailing delimiter leaves).
struct CsvField {
    std::string_view text;
    std::size_t line = 0;
    std::size_t column = 0;
    bool quoted = false;
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

    /// Skips up to n lines unread (no quote handling: a preamble need not be valid CSV); returns
    /// how many line ends it passed. Call it before the first next().
    std::size_t skip_lines(std::size_t n) {
        std::size_t skipped = 0;
        while (skipped < n && pos_ < buf_.size()) {
            if (buf_[pos_++] != '\n') continue;
            ++line_;
            ++skipped;
        }
        return skipped;
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
            f.quoted = true;
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

/// How a label field reads as a class index.
enum class CsvLabelStatus : std::uint8_t {
    ok,         ///< an index in [0, 2^31)
    not_number, ///< not an integer nor a decimal with a point
    negative,   ///< has a minus sign
    fraction,   ///< a decimal whose value is not a whole number
    too_large,  ///< 2^31 or more
};

/// A label field read as a class index: the status and, when ok, the index.
struct CsvLabel {
    CsvLabelStatus status = CsvLabelStatus::not_number;
    std::int32_t value = 0;
};

/// Reads a class index: an integer ("3", "+3"), or a whole number written with a decimal point
/// ("3.0", "3.", numpy.savetxt's "3.000000000000000000e+00"). The decimal is examined digit by
/// digit, so "2.0000000000000000001" is a fraction although a double would round it to 2. An
/// exponent without a point ("1e3") is not accepted: written that way it is rarely a label.
[[nodiscard]] inline CsvLabel read_csv_label(std::string_view s) {
    using enum CsvLabelStatus;
    bool negative_sign = false;
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
        negative_sign = s.front() == '-';
        s.remove_prefix(1);
    }
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    // Mantissa: digits [. digits], then an optional exponent e[+-]digits.
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) ++i;
    const std::size_t int_end = i;
    const bool point = i < s.size() && s[i] == '.';
    std::size_t frac_begin = i, frac_end = i;
    if (point) {
        frac_begin = ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
        frac_end = i;
    }
    if (int_end == 0 && frac_end == frac_begin) return {};
    long long exponent = 0;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        if (!point) return {};
        ++i;
        bool negative_exponent = false;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative_exponent = s[i++] == '-';
        const std::size_t exp_begin = i;
        for (; i < s.size() && is_digit(s[i]); ++i)
            if (exponent < 1'000'000'000) exponent = exponent * 10 + (s[i] - '0');
        if (i == exp_begin) return {};
        if (negative_exponent) exponent = -exponent;
    }
    if (i != s.size()) return {};
    if (negative_sign) return {negative};

    // The digits D (integer then fraction part) with value D * 10^shift.
    const auto digit = [&](std::size_t k) {
        return k < int_end ? s[k] : s[frac_begin + (k - int_end)];
    };
    const std::size_t n = int_end + (frac_end - frac_begin);
    const long long shift = exponent - static_cast<long long>(frac_end - frac_begin);
    std::size_t first = 0; // first nonzero digit
    while (first < n && digit(first) == '0') ++first;
    if (first == n) return {ok, 0};
    // Digits at positions >= whole_end are the fraction; they must all be zero.
    std::size_t whole_end = n;
    if (shift < 0) {
        const auto drop = static_cast<unsigned long long>(-shift);
        whole_end = drop >= n ? 0 : n - static_cast<std::size_t>(drop);
        for (std::size_t k = whole_end; k < n; ++k)
            if (digit(k) != '0') return {fraction};
    }
    if (whole_end <= first) return {ok, 0};
    const long long whole_digits =
        static_cast<long long>(whole_end - first) + (shift > 0 ? shift : 0);
    if (whole_digits > 10) return {too_large};
    std::uint64_t v = 0;
    for (std::size_t k = first; k < whole_end; ++k)
        v = v * 10 + static_cast<std::uint64_t>(digit(k) - '0');
    for (long long k = 0; k < shift; ++k) v *= 10;
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
        return {too_large};
    return {ok, static_cast<std::int32_t>(v)};
}

/// Parses a class index (see read_csv_label); nullopt if the text is not one.
[[nodiscard]] inline std::optional<std::int32_t> parse_csv_label(std::string_view s) {
    const CsvLabel l = read_csv_label(s);
    if (l.status != CsvLabelStatus::ok) return std::nullopt;
    return l.value;
}

/// Why read_csv_label rejected a field, for the error message.
[[nodiscard]] inline std::string csv_label_problem(std::string_view s) {
    const std::string what = quote_excerpt(s) + " is not a class label";
    switch (read_csv_label(s).status) {
    case CsvLabelStatus::negative: return what + " (class labels are integers >= 0)";
    case CsvLabelStatus::fraction: return what + " (not a whole number)";
    case CsvLabelStatus::too_large: return what + " (class labels are below 2^31)";
    default: break;
    }
    if (s.empty()) return what + " (empty field)";
    if (looks_numeric(s))
        return what + " (expected an integer >= 0, or a whole number with a decimal point: 3.0)";
    return what + " (expected an integer >= 0; set CsvOptions::text_labels to read class names)";
}

/// A delimiter as messages write it: ';' or '\t'.
[[nodiscard]] inline std::string csv_delimiter_name(char c) {
    return c == '\t' ? std::string("'\\t'") : std::string("'") + c + "'";
}

/// For a file read as one column: a hint naming the first likely separator found in its field,
/// or nothing.
[[nodiscard]] inline std::string csv_delimiter_hint(std::string_view field, char delimiter) {
    for (const char c : {';', '\t', '|', ',', ' '}) {
        if (c == delimiter || field.find(c) == std::string_view::npos) continue;
        const std::string name = csv_delimiter_name(c);
        return std::string("; the line contains ") +
               (c == '\t'  ? std::string("a tab")
                : c == ' ' ? std::string("spaces")
                           : name) +
               ": if that separates the columns, set CsvOptions::delimiter = " + name;
    }
    return {};
}

/// True if a record ends in an unquoted empty field after a delimiter: a trailing delimiter.
[[nodiscard]] inline bool csv_trailing_delimiter(const std::vector<CsvField>& row) {
    return row.size() > 1 && row.back().text.empty() && !row.back().quoted;
}

/// Parses a complete CSV file held in memory (modified in place); `file` names it in errors.
[[nodiscard]] inline CsvTable parse_csv_table(std::span<char> buf, const std::string& file,
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
    if (opt.skip_rows < 0)
        throw argument_error(std::string("read_csv: skip_rows must be >= 0, got ") +
                             std::to_string(opt.skip_rows));
    const bool classify = opt.task == CsvTask::classification;
    const bool text_labels = opt.text_labels || !opt.class_names.empty();
    if (text_labels && !classify)
        throw argument_error("read_csv: text_labels and class_names need task = classification");
    // Class name -> index: the given class_names, or (filled while reading) order of appearance.
    std::map<std::string_view, std::int32_t> class_of;
    for (const std::string& name : opt.class_names) {
        if (name.empty()) throw argument_error("read_csv: class_names holds an empty name");
        if (!class_of.emplace(name, static_cast<std::int32_t>(class_of.size())).second)
            throw argument_error("read_csv: class_names holds " + quote_excerpt(name) + " twice");
    }

    CsvTokenizer tok(buf, opt.delimiter, file);
    const auto skip = static_cast<std::size_t>(opt.skip_rows);
    tok.skip_lines(skip);
    std::vector<CsvField> fields;
    if (!tok.next(fields))
        throw io_error(file, skip == 0 ? std::string("file is empty (no rows)")
                                       : "no rows after the " + std::to_string(skip) +
                                             " line(s) skipped by skip_rows");

    const std::size_t ncols = fields.size();
    const std::size_t first_line = fields.front().line;
    CsvTable table;
    std::string first_row_note; // why the first row was read as data, for its errors
    if (opt.header.has_value()) {
        table.header = *opt.header;
    } else {
        // A header is a row of text: a field that is text and none that is number-like (empty
        // fields are allowed: pandas writes the index column's name empty). A row with a number
        // is data, so a typo in the first data row ("3O", "0x10") is reported, never dropped.
        bool text = false, number = false;
        for (const CsvField& f : fields)
            if (!f.text.empty()) (looks_numeric(f.text) ? number : text) = true;
        table.header = text && !number;
        if (!table.header)
            first_row_note = " (header detection took line " + std::to_string(first_line) +
                             " for data, as it holds a number; if it is a header, set "
                             "CsvOptions::header = true; if it comes before the table, set "
                             "CsvOptions::skip_rows)";
    }
    if (table.header) {
        table.header_line = first_line;
        for (const CsvField& f : fields) table.column_names.emplace_back(f.text);
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
                  (opt.task == CsvTask::classification ? " label column)" : " target column(s))") +
                  (ncols == 1 ? csv_delimiter_hint(fields.front().text, opt.delimiter) : ""));
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

    Dataset& ds = table.data;
    ds.feature_count = ncols - nt;
    ds.sample_shape = {ds.feature_count};
    if (!classify) ds.target_count = nt;

    // `index`: the row's position among the records read (0 = the first row).
    const auto check_width = [&](const std::vector<CsvField>& row, std::size_t index) {
        if (row.size() == ncols) return;
        std::string what = std::string("line ") + std::to_string(row.front().line) + ": expected " +
                           std::to_string(ncols) + " columns (as in line " +
                           std::to_string(first_line) + "), found " + std::to_string(row.size());
        if (row.size() == ncols + 1 && csv_trailing_delimiter(row))
            what += "; the line ends with a trailing " + csv_delimiter_name(opt.delimiter);
        else if (index == 1)
            what += "; if line " + std::to_string(first_line) +
                    " is not part of the table (as the first line of scikit-learn's CSV files "
                    "is not), set CsvOptions::skip_rows";
        throw io_error(file, what);
    };
    const auto add_row = [&](const std::vector<CsvField>& row, std::size_t index,
                             const std::string& note) {
        check_width(row, index);
        for (std::size_t c = 0; c < ncols; ++c) {
            const CsvField& f = row[c];
            // The header-detection note goes with text only: a bad number is data for sure.
            const auto field_error = [&](const std::string& what) {
                const bool trailing = c + 1 == ncols && csv_trailing_delimiter(row);
                const bool text = !f.text.empty() && !looks_numeric(f.text);
                return io_error(file, std::string("line ") + std::to_string(f.line) + ", column " +
                                          std::to_string(f.column) + ": " + what +
                                          (trailing ? "; the line ends with a trailing " +
                                                          csv_delimiter_name(opt.delimiter)
                                                    : std::string()) +
                                          (text ? note : std::string()));
            };
            const bool is_target = c >= t0 && c < t0 + nt;
            if (is_target && classify && text_labels) {
                if (f.text.empty()) throw field_error("empty field (missing class name)");
                if (!opt.class_names.empty()) {
                    const auto it = class_of.find(f.text);
                    if (it == class_of.end())
                        throw field_error(quote_excerpt(f.text) + " is not one of the " +
                                          std::to_string(class_of.size()) +
                                          " names in CsvOptions::class_names");
                    ds.labels.push_back(it->second);
                } else {
                    const auto id = static_cast<std::int32_t>(class_of.size());
                    ds.labels.push_back(class_of.emplace(f.text, id).first->second);
                }
                continue;
            }
            if (is_target && classify) {
                const CsvLabel label = read_csv_label(f.text);
                if (label.status != CsvLabelStatus::ok)
                    throw field_error(csv_label_problem(f.text));
                ds.labels.push_back(label.value);
                continue;
            }
            const auto v = parse_csv_float(f.text);
            if (!v) throw field_error(csv_float_problem(f.text));
            (is_target ? ds.targets : ds.features).push_back(*v);
        }
    };

    std::vector<CsvField> row;
    bool more = tok.next(row);
    std::size_t index = 1;
    if (!table.header) {
        // The second row's width first: a preamble line of another width is better named as
        // such than by its first field that is not a number.
        if (more) check_width(row, 1);
        add_row(fields, 0, first_row_note);
    }
    for (; more; more = tok.next(row)) add_row(row, index++, std::string());
    if (ds.features.empty())
        throw io_error(file, std::string("no data rows (only the header on line ") +
                                 std::to_string(first_line) + ")");

    if (!opt.class_names.empty()) {
        table.class_names = opt.class_names;
    } else if (text_labels) {
        // Number the names in sorted byte order (the map's): files holding the same classes
        // number them alike, whatever the order of their rows (as scikit-learn's LabelEncoder).
        std::vector<std::int32_t> rank(class_of.size());
        std::int32_t r = 0;
        for (const auto& [name, id] : class_of) {
            rank[static_cast<std::size_t>(id)] = r++;
            table.class_names.emplace_back(name);
        }
        for (std::int32_t& l : ds.labels) l = rank[static_cast<std::size_t>(l)];
    }
    return table;
}

/// Parses a complete CSV file held in memory (modified in place) into a Dataset.
[[nodiscard]] inline Dataset parse_csv(std::span<char> buf, const std::string& file,
                                       const CsvOptions& opt) {
    return parse_csv_table(buf, file, opt).data;
}

} // namespace detail

/// Reads a numeric CSV file (plain or gzip) into a Dataset: every column except the label /
/// target columns is a feature (sample_shape {feature_count}); classification fills labels
/// (integers >= 0), regression fills targets. Throws io_error naming the file, line and column
/// for empty files, non-numbers, bad labels, ragged rows and malformed quoting; throws
/// argument_error for invalid options. A file longer than limits.max_bytes (after gzip
/// decompression; an endless stream such as /dev/zero) or too large for memory is an io_error.
[[nodiscard]] inline Dataset read_csv(const std::filesystem::path& path,
                                      const CsvOptions& options = {},
                                      const ReadLimits& limits = {}) {
    return detail::reporting_memory_errors(path.string(), [&] {
        detail::FileData d = detail::read_file_data(path, limits);
        std::span<char> chars(reinterpret_cast<char*>(d.bytes.data()), d.bytes.size());
        return detail::parse_csv(chars, path.string(), options);
    });
}

/// Reads a CSV file like read_csv and says what it decided: whether the first row was taken for
/// a header (and its names), and for text labels the class names in index order.
[[nodiscard]] inline CsvTable read_csv_table(const std::filesystem::path& path,
                                             const CsvOptions& options = {},
                                             const ReadLimits& limits = {}) {
    return detail::reporting_memory_errors(path.string(), [&] {
        detail::FileData d = detail::read_file_data(path, limits);
        std::span<char> chars(reinterpret_cast<char*>(d.bytes.data()), d.bytes.size());
        return detail::parse_csv_table(chars, path.string(), options);
    });
}

} // namespace ctnn::io
