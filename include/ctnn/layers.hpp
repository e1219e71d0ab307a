// ctnn/layers.hpp — every layer type.
#pragma once
#include "layers/activation.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/embedding.hpp"
#include "layers/input.hpp"
#include "layers/norm.hpp"
#include "layers/pool.hpp"
#include "layers/recurrent.hpp"
#include "layers/resample.hpp"
#include "layers/reshape.hpp"
#include "layers/softmax.hpp"
