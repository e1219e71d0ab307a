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

# Cross-compiling (the Jetson presets), nvcc needs the CUDA toolkit's libraries for the target:
# <CUDA root>/targets/aarch64-linux (Orin, JetPack 6) or targets/sbsa-linux (Thor, CUDA 13),
# installed by NVIDIA's cross packages. Without them check_language(CUDA) only says that no CUDA
# compiler works; name what is missing instead (docs/jetson.md).
set(CTNN_CUDA_TARGET "" CACHE STRING
    "Cross builds: the CUDA toolkit's target directory under <CUDA root>/targets, e.g. aarch64-linux (Jetson Orin) or sbsa-linux (Jetson Thor)")
function(ctnn_check_cuda_cross_target)
    if(NOT CMAKE_CROSSCOMPILING OR NOT CTNN_CUDA_TARGET)
        return()
    endif()
    if(CMAKE_CUDA_COMPILER)
        set(nvcc "${CMAKE_CUDA_COMPILER}")
    elseif(DEFINED ENV{CUDACXX})
        set(nvcc "$ENV{CUDACXX}")
    else()
        find_program(nvcc nvcc HINTS /usr/local/cuda/bin NO_CACHE)
    endif()
    if(NOT nvcc)
        message(FATAL_ERROR "CTNN_ENABLE_CUDA is ON but nvcc was not found: install the CUDA "
                            "toolkit (docs/jetson.md) and put nvcc on PATH or in CUDACXX, or "
                            "configure with -DCTNN_ENABLE_CUDA=OFF for a CPU-only build.")
    endif()
    get_filename_component(nvcc_dir "${nvcc}" DIRECTORY)
    get_filename_component(cuda_root "${nvcc_dir}" DIRECTORY)
    set(dir "${cuda_root}/targets/${CTNN_CUDA_TARGET}")
    if(NOT EXISTS "${dir}/include/cuda_runtime.h" OR NOT IS_DIRECTORY "${dir}/lib")
        if(CTNN_CUDA_TARGET STREQUAL "sbsa-linux")
            set(pkg "cuda-cross-sbsa-13-0 (CUDA 13, for Jetson Thor)")
        else()
            set(pkg "cuda-cross-aarch64-12-6 (JetPack 6, for Jetson Orin)")
        endif()
        message(FATAL_ERROR "nvcc ${nvcc} cannot cross-compile for ${CMAKE_SYSTEM_PROCESSOR}: "
                            "${dir} (the CUDA headers and libraries of the target) is missing. "
                            "Install NVIDIA's cross-compilation package ${pkg} from the CUDA "
                            "repository for your distribution (docs/jetson.md), build on the "
                            "device instead, or configure with -DCTNN_ENABLE_CUDA=OFF for a "
                            "CPU-only cross build.")
    endif()
endfunction()

if(CTNN_ENABLE_CUDA)
    ctnn_check_cuda_cross_target()
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
    "ptxas statistics of ctnn's nvcc targets: <target>/<source>.log per .cu file, and expected/<target>.txt naming them")
set(CTNN_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" CACHE INTERNAL "ctnn's cmake/ directory")
# Written anew by every configure (ctnn_cuda_target_defaults), so a removed target is not expected.
file(REMOVE_RECURSE "${CTNN_PTXAS_LOG_DIR}/expected")

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
    if(CTNN_CPU_FLAG_LIST)
        # The target CPU for nvcc's host compiler (CtnnDeveloper.cmake's ctnn_target_defaults).
        list(JOIN CTNN_CPU_FLAG_LIST "," cpu_flags)
        target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${cpu_flags}>)
    endif()
    if(CTNN_CUDA_ONE_PTX)
        ctnn_cuda_one_ptx(${target})
    endif()
    # Keep each compilation's ptxas statistics for the test cuda.no_register_spills: one log per
    # .cu file (<log dir>/<target>/<file>.log), and the list of the logs that must exist.
    set_target_properties(${target} PROPERTIES CUDA_COMPILER_LAUNCHER
        "${CTNN_CMAKE_DIR}/ctnn-ptxas-log.sh;${CTNN_PTXAS_LOG_DIR}/${target}")
    get_target_property(sources ${target} SOURCES)
    set(expected "")
    foreach(source IN LISTS sources)
        if(source MATCHES "\\.cu$")
            get_filename_component(name "${source}" NAME)
            string(APPEND expected "${target}/${name}.log\n")
        endif()
    endforeach()
    file(WRITE "${CTNN_PTXAS_LOG_DIR}/expected/${target}.txt" "${expected}")
endfunction()

# CTNN_CUDA_DEVICE_ONLY (the ci preset, which has no GPU): nvcc compile checks that nothing runs are
# compiled for the device alone (nvcc --fatbin: the same front end, NVVM, ptxas statistics and
# spill check, no host compilation, ~40-65% of an nvcc compilation saved): tests/cuda's model
# families and every example's <name>_cuda build but regression_cuda, which stays a whole program
# (an example's host code through nvcc, linked; the smallest example). ctnn_cuda_kernels and ctnn_cuda_models
# keep compiling and running their host code. A build with a GPU leaves it off.
option(CTNN_CUDA_DEVICE_ONLY
       "Compile the nvcc checks that cannot run without a GPU for the device only (nvcc --fatbin)"
       OFF)

# ctnn_cuda_device_only(<target>): <target> (an OBJECT library that nothing links) compiles its .cu
# files for the device alone.
function(ctnn_cuda_device_only target)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--fatbin>)
endfunction()

# CTNN_CUDA_ONE_PTX (the ci preset): one PTX for the lowest of CMAKE_CUDA_ARCHITECTURES, given to
# ptxas for every architecture (-gencode arch=compute_87,code=[sm_87,sm_90]) instead of one PTX
# per architecture: cicc (NVVM), a quarter of an nvcc compilation, runs once per .cu file instead
# of once per architecture (docs/cuda.md). Every architecture still gets its own SASS, ptxas
# statistics and spill check; what is lost is device code that differs by __CUDA_ARCH__ above
# the lowest architecture (ctnn has none yet: a kernel that gets an sm_90-only path must turn
# this off in CI). Not for builds that ship: the PTX embedded for JIT is then the lowest
# architecture's.
option(CTNN_CUDA_ONE_PTX
       "nvcc targets: one PTX for the lowest architecture, SASS for each (faster compile checks)" OFF)
function(ctnn_cuda_one_ptx target)
    set(sms "")
    set(lowest "")
    foreach(arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
        string(REGEX REPLACE "-(real|virtual)$" "" arch "${arch}")
        if(NOT arch MATCHES "^[0-9]+[af]?$")
            message(FATAL_ERROR "CTNN_CUDA_ONE_PTX: cannot read the architecture '${arch}' of "
                                "CMAKE_CUDA_ARCHITECTURES='${CMAKE_CUDA_ARCHITECTURES}'")
        endif()
        list(APPEND sms "sm_${arch}")
        string(REGEX REPLACE "[af]$" "" number "${arch}")
        if(lowest STREQUAL "" OR number LESS lowest)
            set(lowest "${number}")
        endif()
    endforeach()
    list(JOIN sms "," code)
    set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES OFF)
    target_compile_options(${target} PRIVATE
        "$<$<COMPILE_LANGUAGE:CUDA>:--generate-code=arch=compute_${lowest},code=[${code}]>")
endfunction()
