// ctnn/io.hpp — umbrella header of the IO module: IDX (MNIST, Fashion-MNIST), CSV and
// safetensors readers and writers, all in namespace ctnn::io.
#pragma once
#include "config.hpp"
#include "io/csv.hpp"
#include "io/idx.hpp"
#include "io/safetensors.hpp"
