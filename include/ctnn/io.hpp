// ctnn/io.hpp — umbrella header of the IO module: IDX (MNIST, Fashion-MNIST), CSV and
// safetensors readers and writers, a Standardizer saved in safetensors metadata, all in namespace
// ctnn::io.
#pragma once
#include "config.hpp"
#include "io/csv.hpp"
#include "io/idx.hpp"
#include "io/safetensors.hpp"
#include "io/standardizer.hpp"
