# Cross-compiling ctnn for 64-bit ARM Linux (NVIDIA Jetson Orin: sm_87) with the GNU cross toolchain
# (Debian: g++-aarch64-linux-gnu). Used by the `jetson` preset:
#
#     cmake --preset jetson && cmake --build --preset jetson
#
# Target libraries are found either through Debian multiarch (e.g. zlib1g-dev:arm64) or, for a
# copied Jetson root file system, in the sysroot given by the environment variable
# CTNN_AARCH64_SYSROOT. Programs built here run on the device (or under qemu-aarch64, which is used
# as the CROSSCOMPILING_EMULATOR when found).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# nvcc compiles host code with the cross compiler.
set(CMAKE_CUDA_HOST_COMPILER aarch64-linux-gnu-g++)

if(DEFINED ENV{CTNN_AARCH64_SYSROOT})
    set(CMAKE_SYSROOT "$ENV{CTNN_AARCH64_SYSROOT}")
    list(APPEND CMAKE_FIND_ROOT_PATH "${CMAKE_SYSROOT}")
    # Headers and libraries only from the target; tools from the host. Packages from both, since
    # header-only packages such as Eigen are architecture independent.
    set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
    set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
    set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
    set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
endif()

find_program(CTNN_QEMU_AARCH64 qemu-aarch64)
if(CTNN_QEMU_AARCH64)
    if(CMAKE_SYSROOT)
        set(CMAKE_CROSSCOMPILING_EMULATOR "${CTNN_QEMU_AARCH64};-L;${CMAKE_SYSROOT}")
    else()
        set(CMAKE_CROSSCOMPILING_EMULATOR "${CTNN_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
    endif()
endif()
