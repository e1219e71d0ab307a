# ctnn_embed_checkpoint: compiles a safetensors checkpoint into a program as constant arrays.
#
#   ctnn_embed_checkpoint(<target>
#       CHECKPOINT <file.safetensors>   # relative paths: from the current source directory
#       NAME <identifier>               # the struct's name; the header is <identifier>.hpp
#       [NAMESPACE <ns>])               # the struct's namespace (a::b allowed)
#
# At build time (and again whenever the checkpoint changes) writes <identifier>.hpp under
# ${CMAKE_CURRENT_BINARY_DIR}/ctnn_embedded and puts that directory on <target>'s include path, so
# that <target>'s sources `#include "<identifier>.hpp"` and run
#     ctnn::StaticModel<Net, MaxBatch, ctnn::EmbeddedParameters<ns::identifier>>
# on the weights in place (model/static_model.hpp; the struct's layout: io/embedded.hpp). The
# model type checks the checkpoint's names and shapes at compile time. The conversion is
# ctnn-embed.cmake, in CMake's script mode: no compiler or Python for the build host, so it works
# the same in a cross build (docs/jetson.md, "Static inference"). Call it in the directory that
# defines <target> (the rule that writes the header lives there).
include_guard(GLOBAL)

function(ctnn_embed_checkpoint target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "CHECKPOINT;NAME;NAMESPACE" "")
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "ctnn_embed_checkpoint: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT TARGET ${target})
        message(FATAL_ERROR "ctnn_embed_checkpoint: '${target}' is not a target")
    endif()
    if(NOT arg_CHECKPOINT OR NOT arg_NAME)
        message(FATAL_ERROR "ctnn_embed_checkpoint(${target}): CHECKPOINT and NAME are required")
    endif()
    if(NOT arg_NAME MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
        message(FATAL_ERROR "ctnn_embed_checkpoint(${target}): NAME '${arg_NAME}' is not a C++ "
                            "identifier")
    endif()
    cmake_path(ABSOLUTE_PATH arg_CHECKPOINT BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
               OUTPUT_VARIABLE checkpoint)
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/ctnn_embedded")
    set(header "${dir}/${arg_NAME}.hpp")
    set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/ctnn-embed.cmake")
    # One rule per header: a second target of this directory embedding the same checkpoint
    # under the same name shares it; another checkpoint under that name is an error.
    get_property(rules DIRECTORY PROPERTY CTNN_EMBEDDED_HEADERS)
    foreach(rule IN LISTS rules)
        string(REPLACE "|" ";" rule "${rule}")
        list(GET rule 0 known_header)
        list(GET rule 1 known_checkpoint)
        if(known_header STREQUAL header)
            if(NOT known_checkpoint STREQUAL checkpoint)
                message(FATAL_ERROR "ctnn_embed_checkpoint(${target}): NAME ${arg_NAME} already "
                                    "embeds ${known_checkpoint} in this directory")
            endif()
            target_sources(${target} PRIVATE "${header}")
            target_include_directories(${target} PRIVATE "${dir}")
            return()
        endif()
    endforeach()
    set_property(DIRECTORY APPEND PROPERTY CTNN_EMBEDDED_HEADERS "${header}|${checkpoint}")
    add_custom_command(
        OUTPUT "${header}"
        COMMAND "${CMAKE_COMMAND}" "-DCHECKPOINT=${checkpoint}" "-DOUTPUT=${header}"
                "-DNAME=${arg_NAME}" "-DNAMESPACE=${arg_NAMESPACE}" -P "${script}"
        DEPENDS "${checkpoint}" "${script}"
        COMMENT "ctnn: embedding ${arg_CHECKPOINT} as ${arg_NAME}.hpp"
        VERBATIM)
    target_sources(${target} PRIVATE "${header}")
    target_include_directories(${target} PRIVATE "${dir}")
endfunction()
