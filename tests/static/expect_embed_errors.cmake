# ctest static.embed_rejects_corrupt: runs ctnn-embed.cmake on every malformed file of
# tests/static/corrupt (made by make.py there) and expects each to fail with its message, naming
# the file, and no header written. (The expected texts are regular expressions without ";" or
# brackets, which would split or glue CMake list elements.) Run as: cmake -DSCRIPT=<ctnn-embed.cmake> -DDIR=<corrupt dir>
#   -DWORK=<scratch dir> -P expect_embed_errors.cmake
set(cases
    "short|file is 3 bytes long"
    "header_past_end|at byte offset 0: header length 1000 runs past the end of the file"
    "header_huge|at byte offset 0: header length 0x0000010000000000 exceeds the limit"
    "not_json|at byte offset 8: the header is not valid JSON"
    "not_object|at byte offset 8: the header must be a JSON object"
    "dtype_i64|tensor \"x\" has dtype I64. a checkpoint to embed holds F32, F16 or BF16"
    "span_mismatch|needs 8 bytes, but data_offsets .0, 4. span 4"
    "past_end|run past the end of the data buffer .8 bytes."
    "gap|gap of 4 unused bytes in the data buffer before tensor \"y\""
    "overlap|the data of tensor \"y\" .4, 8. overlaps the data of tensor \"x\""
    "left_over|at byte offset [0-9]+: 4 bytes left over in the data buffer"
    "not_finite|tensor \"x\" element 1 is not finite"
    "rank5|shape has 5 dimensions. an embedded tensor has at most 4"
    "no_offsets|tensor \"x\" lacks the field \"data_offsets\""
    "unknown_field|tensor \"x\" has an unknown field \"extra\""
    "bad_name|a name to embed may hold letters, digits"
    "negative_dim|shape entries must be non-negative integers"
    "no_tensors|no tensors to embed")
set(failed 0)
foreach(c IN LISTS cases)
    string(FIND "${c}" "|" bar)
    string(SUBSTRING "${c}" 0 ${bar} name)
    math(EXPR from "${bar} + 1")
    string(SUBSTRING "${c}" ${from} -1 expected)
    set(file "${DIR}/${name}.safetensors")
    set(out "${WORK}/${name}.hpp")
    file(REMOVE "${out}")
    execute_process(
        COMMAND "${CMAKE_COMMAND}" "-DCHECKPOINT=${file}" "-DOUTPUT=${out}" -DNAME=w -P "${SCRIPT}"
        RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
    set(text "${stdout}${stderr}")
    string(REGEX REPLACE "[ \n]+" " " flat "${text}")
    if(rc EQUAL 0)
        message(SEND_ERROR "${name}: accepted (rc 0); expected: ${expected}")
        set(failed 1)
    elseif(NOT flat MATCHES "ctnn_embed_checkpoint: [^ ]*${name}\\.safetensors: ")
        message(SEND_ERROR "${name}: the message does not name the file: ${flat}")
        set(failed 1)
    elseif(NOT flat MATCHES "${expected}")
        message(SEND_ERROR "${name}: expected '${expected}', got: ${flat}")
        set(failed 1)
    elseif(EXISTS "${out}")
        message(SEND_ERROR "${name}: failed but wrote ${out}")
        set(failed 1)
    else()
        message(STATUS "${name}: rejected as expected")
    endif()
endforeach()
if(failed)
    message(FATAL_ERROR "ctnn-embed.cmake accepted or misreported a malformed checkpoint")
endif()
