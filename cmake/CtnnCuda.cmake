# The CUDA language for ctnn's own targets (CTNN_ENABLE_CUDA).
#
# ctnn::ctnn never needs CUDA: a consumer compiles ctnn's headers with whatever compiler builds
# its sources. CUDA only adds ctnn's own nvcc targets (tests/cuda: every kernel instantiation the
# tests use, compiled for CMAKE_CUDA_ARCHITECTURES with ptxas statistics in the build log).
#
# CTNN_ENABLE_CUDA defaults to ON in a top-level build when check_language(CUDA) finds nvcc, OFF
# otherwise (and in a subproject, which then skips the probe). Forcing it ON without a CUDA
# compiler is a configuration error.
#
# Defaults set here, each overridable on the command line:
#   CMAKE_CUDA_ARCHITECTURES  "87;90" (Jetson Orin, Hopper)
#   CMAKE_CUDA_HOST_COMPILER  the C++ compiler, when it is GCC (nvcc 13 supports g++ 12 to 15)
include(CheckLanguage)

if(NOT DEFINED CTNN_ENABLE_CUDA AND PROJECT_IS_TOP_LEVEL)
    check_language(CUDA)
endif()
if(PROJECT_IS_TOP_LEVEL AND CMAKE_CUDA_COMPILER)
    set(ctnn_cuda_default ON)
else()
    set(ctnn_cuda_default OFF)
endif()
option(CTNN_ENABLE_CUDA "Enable the CUDA language for ctnn's nvcc targets (nvcc >= 12; ON when found)"
       ${ctnn_cuda_default})

if(CTNN_ENABLE_CUDA)
    check_language(CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
        message(FATAL_ERROR "CTNN_ENABLE_CUDA is ON but no CUDA compiler was found; set "
                            "CMAKE_CUDA_COMPILER (or CUDACXX) to nvcc, or turn CTNN_ENABLE_CUDA "
                            "OFF")
    endif()
    if(NOT CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        unset(CMAKE_CUDA_HOST_COMPILER) # check_language leaves an empty normal variable
        set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}" CACHE FILEPATH
            "Host compiler of nvcc (default: the C++ compiler)")
    endif()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES "87;90" CACHE STRING
            "GPU architectures of ctnn's nvcc targets (87: Jetson Orin, 90: Hopper)")
    endif()
    enable_language(CUDA)
    message(STATUS "ctnn: CUDA enabled (${CMAKE_CUDA_COMPILER_ID} ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "host compiler ${CMAKE_CUDA_HOST_COMPILER}, "
                   "architectures ${CMAKE_CUDA_ARCHITECTURES})")
endif()

set(CTNN_PTXAS_LOG_DIR "${CMAKE_BINARY_DIR}/ptxas" CACHE INTERNAL
    "ptxas statistics of ctnn's nvcc targets, one log per target (one .cu file each)")
set(CTNN_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" CACHE INTERNAL "ctnn's cmake/ directory")

# ctnn_cuda_target_defaults(<target>)
#
# For a target with .cu sources: links ctnn::ctnn, compiles as CUDA C++20 for
# CMAKE_CUDA_ARCHITECTURES, prints ptxas statistics (registers, spills, shared memory) for every
# kernel (-Xptxas -v), and with CTNN_WARNINGS_AS_ERRORS turns every nvcc, ptxas and host-compiler
# warning into an error. No sanitizers: nvcc does not take them.
function(ctnn_cuda_target_defaults target)
    target_link_libraries(${target} PRIVATE ctnn::ctnn)
    # -std=c++20 by hand: CMake 3.25 does not know nvcc's C++20 flag (CUDA_STANDARD 20 fails).
    target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -Xptxas=-v -Xcompiler=-Wall,-Wextra>)
    if(CTNN_WARNINGS_AS_ERRORS)
        target_compile_options(${target} PRIVATE
            $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-Werror>)
    endif()
    # Keep each compilation's ptxas statistics for the test cuda.no_register_spills.
    set_target_properties(${target} PROPERTIES CUDA_COMPILER_LAUNCHER
        "${CTNN_CMAKE_DIR}/ctnn-ptxas-log.sh;${CTNN_PTXAS_LOG_DIR}/${target}.log")
endfunction()
