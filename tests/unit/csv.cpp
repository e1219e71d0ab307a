// tests/unit/csv.cpp — the CSV reader (ctnn/io/csv.hpp) on the files that made it fail: a typo in
// the first data row taken for a header, scikit-learn's own CSV files (a preamble line), labels
// written as floats or class names, and files read with the wrong delimiter or a trailing comma.
//
// Fixtures are written to $CTNN_TEST_TMPDIR (the area's scratch directory set by ctest), else the
// system's temporary directory; each test case uses its own file names.
#include <ctnn/io/csv.hpp>

#include "io_checks.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using ctnn::test::contains;
using ctnn::test::write_text;

/// A file in the test area's scratch directory.
fs::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? fs::path(dir) : fs::temp_directory_path()) / name;
}

} // namespace

using ctnn::io::CsvOptions;
using ctnn::io::CsvTable;
using ctnn::io::CsvTask;
using ctnn::io::read_csv;
using ctnn::io::read_csv_table;

// ---- 13: header detection never drops a data row --------------------------------------------

TEST_CASE("header detection: a typo in the first data row is reported, not taken for a header") {
    const fs::path p = scratch("typo_first_row.csv");
    for (const char* typo : {"3O", "0x10", "5,1"}) {
        CAPTURE(typo);
        write_text(p, std::string("\"") + typo + "\",3.5,0\n4.9,3.0,1\n");
        CHECK_IO_ERROR(read_csv(p), p, "line 1, column 1",
                       "'" + std::string(typo) + "' is not a number",
                       "header detection took line 1 for data");
    }
    // The same typo on line 2 was always reported; it still is, without the header remark.
    write_text(p, "5.1,3.5,0\n3O,3.0,1\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2, column 1: '3O' is not a number");
    // A bad label in the first row, too.
    write_text(p, "5.1,3.5,O\n4.9,3.0,1\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1, column 3", "'O' is not a class label",
                   "header detection took line 1 for data");
    // A header with a number-like name is data to the detector: the error says how to declare it.
    write_text(p, "id,2019,label\n1,2,0\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1, column 1", "'id' is not a number", "header = true");
}

TEST_CASE("header detection: rows of text are headers, also with an empty cell") {
    const fs::path p = scratch("text_header.csv");
    write_text(p, "sepal_length,sepal_width,species\n5.1,3.5,0\n4.9,3.0,1\n");
    CHECK(read_csv(p).size() == 2);
    // pandas' DataFrame.to_csv writes the index column with an empty name.
    write_text(p, ",x,label\n0,1.5,1\n1,2.5,0\n");
    CHECK_IO_ERROR(read_csv(p, {.label_column = 1}), p, "line 2, column 2", "is not a class label");
    const ctnn::Dataset ds = read_csv(p);
    CHECK(ds.features == std::vector<float>{0, 1.5f, 1, 2.5f});
    CHECK(ds.labels == std::vector<std::int32_t>{1, 0});
}

TEST_CASE("header detection: read_csv_table says what was decided") {
    const fs::path p = scratch("header_report.csv");
    write_text(p, "sepal_length,sepal_width,species\n5.1,3.5,0\n");
    CsvTable t = read_csv_table(p);
    CHECK(t.header);
    CHECK(t.header_line == 1);
    CHECK(t.column_names == std::vector<std::string>{"sepal_length", "sepal_width", "species"});
    CHECK(t.data.size() == 1);
    CHECK(t.class_names.empty());

    write_text(p, "\n5.1,3.5,0\n4.9,3.0,1\n");
    t = read_csv_table(p);
    CHECK_FALSE(t.header);
    CHECK(t.header_line == 0);
    CHECK(t.column_names.empty());
    CHECK(t.data.size() == 2);

    // Declared: a numeric-looking header is taken, and its names reported.
    write_text(p, "1,2,3\n4,5,6\n");
    t = read_csv_table(p, {.header = true});
    CHECK(t.header);
    CHECK(t.column_names == std::vector<std::string>{"1", "2", "3"});
    CHECK(t.data.labels == std::vector<std::int32_t>{6});
    // read_csv gives the same dataset.
    CHECK(read_csv(p, {.header = true}).features == t.data.features);
}

// ---- 14: scikit-learn's CSV files ------------------------------------------------------------

TEST_CASE("sklearn files: a preamble line of counts and names is named in the error") {
    // sklearn/datasets/data/breast_cancer.csv: "569,30,malignant,benign", then 31 columns.
    const fs::path p = scratch("breast_cancer_like.csv");
    write_text(p, "3,4,malignant,benign\n1.5,2,3,4,0\n2.5,3,4,5,1\n3.5,4,5,6,0\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2: expected 4 columns (as in line 1), found 5",
                   "skip_rows");
    const CsvTable t = read_csv_table(p, {.skip_rows = 1});
    CHECK_FALSE(t.header);
    CHECK(t.data.feature_count == 4);
    CHECK(t.data.labels == std::vector<std::int32_t>{0, 1, 0});
    CHECK(t.data.features[0] == 1.5f);
}

TEST_CASE("sklearn files: skip_rows reads iris.csv and boston_house_prices.csv") {
    const fs::path p = scratch("sklearn.csv");
    // sklearn/datasets/data/iris.csv: the preamble has as many columns as the data.
    write_text(p, "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n7.0,3.2,4.7,1.4,1\n"
                  "6.3,3.3,6.0,2.5,2\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1, column 3", "'setosa' is not a number",
                   "header detection took line 1 for data", "skip_rows");
    const ctnn::Dataset iris = read_csv(p, {.skip_rows = 1});
    CHECK(iris.size() == 3);
    CHECK(iris.feature_count == 4);
    CHECK(iris.labels == std::vector<std::int32_t>{0, 1, 2});
    CHECK(iris.features[4] == 7.0f);

    // boston_house_prices.csv: counts, then a header of names, then data (CRLF here).
    write_text(p, "3,2\r\nCRIM,ZN,MEDV\r\n0.00632,18,24\r\n0.02731,0,21.6\r\n");
    CHECK_IO_ERROR(read_csv(p, {.task = CsvTask::regression}), p,
                   "line 2: expected 2 columns (as in line 1), found 3", "skip_rows");
    const CsvTable b = read_csv_table(p, {.task = CsvTask::regression, .skip_rows = 1});
    CHECK(b.header);
    CHECK(b.header_line == 2);
    CHECK(b.column_names == std::vector<std::string>{"CRIM", "ZN", "MEDV"});
    CHECK(b.data.targets == std::vector<float>{24, 21.6f});
    CHECK(b.data.features == std::vector<float>{0.00632f, 18, 0.02731f, 0});

    // Errors keep the file's line numbers; the skipped lines are not parsed (an open quote, an
    // empty line) but are counted.
    write_text(p, "# \"notes\n\n1,2,0\n3,x,1\n");
    CHECK_IO_ERROR(read_csv(p, {.skip_rows = 2}), p, "line 4, column 2: 'x' is not a number");
    write_text(p, "# \"notes\n\n1,2,0\n3,4,1");
    CHECK(read_csv(p, {.skip_rows = 2}).labels == std::vector<std::int32_t>{0, 1});

    write_text(p, "150,4\n");
    CHECK_IO_ERROR(read_csv(p, {.skip_rows = 1}), p, "no rows after the 1 line(s) skipped");
    CHECK_IO_ERROR(read_csv(p, {.skip_rows = 5}), p, "no rows after the 5 line(s) skipped");
    CHECK_THROWS_AS((void)read_csv(p, {.skip_rows = -1}), ctnn::argument_error);
}

// ---- 15: labels written as floats ------------------------------------------------------------

TEST_CASE("labels: integral floats are class indices, fractions are errors") {
    const fs::path p = scratch("float_labels.csv");
    // numpy.savetxt's default format, and pandas' float columns.
    write_text(p, "5.000000000000000000e+00,0.000000000000000000e+00\n"
                  "6.000000000000000000e+00,2.000000000000000000e+00\n"
                  "7.0,1.0\n8,1.\n9,+3.0e0\n10,1500.0e-2\n");
    const ctnn::Dataset ds = read_csv(p);
    CHECK(ds.labels == std::vector<std::int32_t>{0, 2, 1, 1, 3, 15});
    CHECK(ds.features == std::vector<float>{5, 6, 7, 8, 9, 10});

    for (const char* bad : {"1.5", "2.000000000000000001", "1.5e-1", "15.5e0"}) {
        CAPTURE(bad);
        write_text(p, std::string("1,0\n2,") + bad + "\n");
        CHECK_IO_ERROR(read_csv(p), p, "line 2, column 2",
                       "'" + std::string(bad) + "' is not a class label", "not a whole number");
    }
    // In the first row, too; a bad number is surely data, so no header-detection remark.
    write_text(p, "2,1.5\n1,0\n");
    try {
        (void)read_csv(p);
        FAIL("expected an io_error");
    } catch (const ctnn::io_error& e) {
        CHECK(contains(e.what(),
                       "line 1, column 2: '1.5' is not a class label (not a whole number)"));
        CHECK_FALSE(contains(e.what(), "header detection"));
    }
    write_text(p, "1,0\n2,2147483648.0\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2, column 2", "is not a class label", "2^31");
    write_text(p, "1,0\n2,-1.0\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2, column 2", "is not a class label", ">= 0");
    write_text(p, "1,0\n2,2147483647.0\n");
    CHECK(read_csv(p).labels == std::vector<std::int32_t>{0, 2147483647});
}

TEST_CASE("labels: class names are an error that names the option to read them") {
    const fs::path p = scratch("name_labels.csv");
    write_text(p, "5.1,3.5,setosa\n7.0,3.2,versicolor\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1, column 3", "'setosa' is not a class label",
                   "text_labels");
}

TEST_CASE("labels: text_labels reads class names, numbered in sorted order") {
    const fs::path p = scratch("text_labels.csv");
    write_text(p, "sepal,petal,species\n5.1,3.5,virginica\n7.0,3.2,setosa\n"
                  "6.3,3.3,\"versicolor, var.\"\n5.0,3.4,setosa\n");
    const CsvTable t = read_csv_table(p, {.text_labels = true});
    CHECK(t.header);
    CHECK(t.class_names == std::vector<std::string>{"setosa", "versicolor, var.", "virginica"});
    CHECK(t.data.labels == std::vector<std::int32_t>{2, 0, 1, 0});
    CHECK(t.class_index("virginica") == 2);
    CHECK_FALSE(t.class_index("rosa").has_value());
    CHECK(read_csv(p, {.text_labels = true}).labels == t.data.labels);

    // Without a header the first row is data (it holds numbers), its name included.
    write_text(p, "5.1,3.5,virginica\n7.0,3.2,setosa\n");
    const CsvTable h = read_csv_table(p, {.text_labels = true});
    CHECK_FALSE(h.header);
    CHECK(h.data.labels == std::vector<std::int32_t>{1, 0});

    // Every label is a name, digits included (byte order: "10" < "2").
    write_text(p, "1,2\n1,10\n1,x\n");
    const CsvTable d = read_csv_table(p, {.text_labels = true});
    CHECK(d.class_names == std::vector<std::string>{"10", "2", "x"});
    CHECK(d.data.labels == std::vector<std::int32_t>{1, 0, 2});

    // A test file numbered like its training file: class_names fixes the mapping.
    write_text(p, "5.0,3.4,virginica\n5.0,3.4,versicolor, var.\n");
    CHECK_IO_ERROR(read_csv(p, {.class_names = t.class_names}), p,
                   "line 2: expected 3 columns (as in line 1), found 4");
    write_text(p, "5.0,3.4,virginica\n5.0,3.4,\"versicolor, var.\"\n");
    const CsvTable test = read_csv_table(p, {.class_names = t.class_names});
    CHECK(test.class_names == t.class_names);
    CHECK(test.data.labels == std::vector<std::int32_t>{2, 1});
    write_text(p, "5.0,3.4,virginica\n5.0,3.4,rosa\n");
    CHECK_IO_ERROR(read_csv(p, {.class_names = t.class_names}), p, "line 2, column 3",
                   "'rosa' is not one of the 3 names in CsvOptions::class_names");

    write_text(p, "5.0,3.4,virginica\n5.0,3.4,\n");
    CHECK_IO_ERROR(read_csv(p, {.text_labels = true}), p, "line 2, column 3",
                   "empty field (missing class name)", "trailing ','");
    CHECK_THROWS_AS((void)read_csv(p, {.task = CsvTask::regression, .text_labels = true}),
                    ctnn::argument_error);
    CHECK_THROWS_AS((void)read_csv(p, {.class_names = {"a", "b", "a"}}), ctnn::argument_error);
    CHECK_THROWS_AS((void)read_csv(p, {.class_names = {"a", ""}}), ctnn::argument_error);
}

// ---- 16: wrong delimiter, trailing comma -----------------------------------------------------

TEST_CASE("delimiters: one column holding semicolons or tabs suggests the delimiter option") {
    const fs::path p = scratch("one_column.csv");
    write_text(p, "a;b;label\n1;2;0\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1", "1 column(s)", "';'", "delimiter = ';'");
    write_text(p, "1;2;0\n3;4;1\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1", "1 column(s)", "delimiter = ';'");
    write_text(p, "1\t2\t0\n3\t4\t1\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 1", "1 column(s)", "a tab", "delimiter = '\\t'");
    // A one-column file with no likely separator gets no suggestion.
    write_text(p, "1\n2\n");
    try {
        (void)read_csv(p);
        FAIL("expected an io_error");
    } catch (const ctnn::io_error& e) {
        CHECK(contains(e.what(), "needs at least 2"));
        CHECK_FALSE(contains(e.what(), "delimiter"));
    }
}

TEST_CASE("delimiters: a trailing comma is named as such") {
    const fs::path p = scratch("trailing_comma.csv");
    // On some rows: a column count mismatch.
    write_text(p, "1,2,0\n3,4,1,\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2: expected 3 columns (as in line 1), found 4",
                   "trailing ','");
    // On every row: an empty last column.
    write_text(p, "a,b,label,\n1,2,0,\n3,4,1,\n");
    CHECK_IO_ERROR(read_csv(p), p, "line 2, column 4", "trailing ','");
    write_text(p, "1,2,0,\n3,4,1,\n");
    CHECK_IO_ERROR(read_csv(p, {.label_column = 2}), p, "line 1, column 4", "empty field",
                   "trailing ','");
    // Rows short of one column give no trailing-comma remark.
    write_text(p, "1,2,0\n3,4\n");
    try {
        (void)read_csv(p);
        FAIL("expected an io_error");
    } catch (const ctnn::io_error& e) {
        CHECK(contains(e.what(), "expected 3 columns"));
        CHECK_FALSE(contains(e.what(), "trailing '"));
    }
}
