# Runs one compile-fail test (see CtnnCompileFail.cmake):
#   cmake -D CASE_FILE=<dir>/<name>.<ok|ko>.cmake -P CtnnRunCompileFail.cmake
# Exits non-zero (message(FATAL_ERROR)) when the test fails.
cmake_policy(VERSION 3.22)
include("${CASE_FILE}")

# fail(<summary> <details>...): prints the details verbatim (message(FATAL_ERROR) would re-wrap
# compiler output), then fails with the summary.
function(fail summary)
    string(CONCAT details ${ARGN})
    message("${details}")
    message(FATAL_ERROR "${summary}")
endfunction()

set(command "${compiler}" ${flags})
foreach(def IN LISTS definitions)
    list(APPEND command "-D${def}")
endforeach()
# Like CMake itself, leave out the compiler's implicit directories (-I/usr/include would break
# libstdc++'s #include_next) and the empty values of $<INSTALL_INTERFACE:...>.
list(REMOVE_DUPLICATES includes)
list(REMOVE_ITEM includes "" ${implicit_includes})
foreach(inc IN LISTS includes)
    list(APPEND command "-I${inc}")
endforeach()
list(APPEND command ${options})
if(variant STREQUAL "pch")
    # The shared precompiled header (compile_fail.pch, the fixture of every case).
    list(APPEND command -x c++-header)
elseif(pch AND EXISTS "${pch}.gch")
    # Only where ctnn's headers come first: a case that defines a macro before them must see them
    # compiled after it.
    file(STRINGS "${source}" directives REGEX "^[ \t]*#")
    list(GET directives 0 first)
    if(first MATCHES "^[ \t]*#[ \t]*include[ \t]*<ctnn/")
        list(APPEND command -include "${pch}" -Winvalid-pch)
    endif()
endif()
list(APPEND command -c "${source}" -o "${object}")
list(JOIN command " " command_line)
message("${command_line}")

file(REMOVE "${object}")
execute_process(COMMAND ${command}
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)

if(variant STREQUAL "pch")
    if(NOT status EQUAL 0)
        fail("compile_fail: <ctnn/ctnn.hpp> does not compile as a precompiled header" "${output}")
    endif()
    message("pch: ${object}")
    return()
endif()
if(variant STREQUAL "ok")
    if(NOT status EQUAL 0)
        fail("compile_fail: the ok variant of ${source} must compile" "${output}")
    endif()
    message("ok: compiles")
    return()
endif()

# ko: the compile must fail, and its first error must say what the test expects. The first error is
# the first line holding "error: " (GCC and Clang) with the notes after it, up to the next error; a
# ko that fails for another reason (a typo before the intended error) therefore fails the test.
file(STRINGS "${source}" expect_lines REGEX "^[ \t]*//[ \t]*expect:")
if(NOT expect_lines)
    message(FATAL_ERROR "${source}: no `// expect: <regex>` line")
endif()
if(status EQUAL 0)
    list(JOIN expect_lines "\n" expected)
    fail("compile_fail: the ko variant (CTNN_KO defined) of ${source} compiled; it must fail"
         "Expected:\n${expected}")
endif()

set(error_line "\n[^\n]*error: [^\n]*")
set(text "\n${output}")
string(REGEX MATCH "${error_line}" first_error "${text}")
if(first_error STREQUAL "")
    fail("compile_fail: the ko variant of ${source} failed without an error message" "${output}")
endif()
string(FIND "${text}" "${first_error}" begin)
string(LENGTH "${first_error}" length)
math(EXPR after "${begin} + ${length}")
string(SUBSTRING "${text}" ${after} -1 rest)
string(REGEX MATCH "${error_line}" next_error "${rest}")
if(next_error STREQUAL "")
    set(first_error "${first_error}${rest}")
else()
    string(FIND "${rest}" "${next_error}" end)
    string(SUBSTRING "${rest}" 0 ${end} notes)
    set(first_error "${first_error}${notes}")
endif()
string(STRIP "${first_error}" first_error)

foreach(line IN LISTS expect_lines)
    string(REGEX REPLACE "^[ \t]*//[ \t]*expect:[ \t]*" "" regex "${line}")
    string(STRIP "${regex}" regex)
    if(regex STREQUAL "")
        message(FATAL_ERROR "${source}: empty `// expect:` regex")
    endif()
    if(NOT first_error MATCHES "${regex}")
        string(CONCAT details "Expected (regex): ${regex}\n--- first error ---\n${first_error}\n"
                              "--- full compiler output ---\n${output}")
        fail("compile_fail: the ko variant of ${source} failed, but not with the expected error"
             "${details}")
    endif()
    message("ko: fails as expected; the first error matches: ${regex}")
endforeach()
