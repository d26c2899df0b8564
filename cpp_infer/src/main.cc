// Ascend310 inference for an exported WideResNet MINDIR over preprocess.py's .bin batches (also on x86 CPU).
// Input files hold one batch of the model's input each, as preprocess.py writes it: normalised float32 NCHW, or, for
// a raw export (export --input raw: cast, /255, the recipe's normalisation and NHWC->NCHW inside the graph), uint8
// NHWC pixels. The app reads the model input's data type and byte size (MSTensor::DataType, DataSize) and checks
// every file against them; nothing here normalises anything.
// The model is built with Model::Build(path, kMindIR, context): the 1.x-only Serialization::Load + Build(GraphCell)
// answers "Unsupported Feature" on 2.x runtimes.
#include <chrono>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/types.h"
#include "inc/utils.h"

using mindspore::Context;
using mindspore::kSuccess;
using mindspore::Model;
using mindspore::ModelType;
using mindspore::MSTensor;
using mindspore::Status;

namespace {
int Fail(const std::string& message) {
  std::cerr << "error: " << message << std::endl;
  return 1;
}

std::shared_ptr<mindspore::DeviceInfoContext> Device(const wrn::Args& args) {
  if (args.device_type == "CPU") return std::make_shared<mindspore::CPUDeviceInfo>();
  auto info = std::make_shared<mindspore::Ascend310DeviceInfo>();
  info->SetDeviceID(args.device_id);
  return info;
}

const char kVersionHint[] =
    " (if the runtime says the MindIR version is too new: 2.8 writes version 3, 2.0 runtimes read at most 1; export "
    "with the runtime's MindSpore version, or convert the ONNX export with its converter)";

int Run(const wrn::Args& args) {
  std::string error;
  if (!wrn::IsRegularFile(args.mindir_path)) return Fail("MINDIR " + args.mindir_path + " is not a readable file");
  auto context = std::make_shared<Context>();
  context->MutableDeviceInfo().push_back(Device(args));
  Model model;
  Status status = model.Build(args.mindir_path, ModelType::kMindIR, context);
  if (status != kSuccess) {
    return Fail("building " + args.mindir_path + " on " + args.device_type + ": " + status.ToString() + kVersionHint);
  }
  std::vector<MSTensor> model_inputs = model.GetInputs();
  if (model_inputs.size() != 1) return Fail("expected a model with one input, got " +
                                            std::to_string(model_inputs.size()));
  const MSTensor& input = model_inputs[0];
  const size_t expected_bytes = input.DataSize();
  const size_t batch_size = input.Shape().empty() ? 1 : static_cast<size_t>(input.Shape()[0]);

  std::vector<std::string> files = wrn::ListBinFiles(args.input_dir, &error);
  if (files.empty()) return Fail(error);
  const std::string result_dir = args.output_dir + "/result_Files";
  const std::string time_dir = args.output_dir + "/time_Result";
  if (!wrn::MakeDirs(result_dir, &error) || !wrn::MakeDirs(time_dir, &error)) return Fail(error);

  std::vector<double> latencies;
  std::vector<char> data;
  for (const std::string& file : files) {
    if (!wrn::ReadFile(file, &data, &error)) return Fail(error);
    std::string mismatch = wrn::CheckSize(file, data.size(), expected_bytes, static_cast<int>(input.DataType()),
                                          input.Shape());
    if (!mismatch.empty()) return Fail(mismatch);
    std::vector<MSTensor> inputs{MSTensor(input.Name(), input.DataType(), input.Shape(), data.data(), data.size())};
    std::vector<MSTensor> outputs;
    auto start = std::chrono::steady_clock::now();
    status = model.Predict(inputs, &outputs);
    auto end = std::chrono::steady_clock::now();
    if (status != kSuccess) return Fail("predict on " + file + ": " + status.ToString());
    if (outputs.empty()) return Fail("predict on " + file + " returned no output");
    latencies.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    auto logits = outputs[0].Data();
    if (logits == nullptr) return Fail("output of " + file + " has no data");
    if (!wrn::WriteFile(result_dir + "/" + wrn::Stem(file) + "_0.bin", logits.get(), outputs[0].DataSize(), &error)) {
      return Fail(error);
    }
  }
  wrn::LatencyStats stats = wrn::ComputeLatency(latencies);
  std::string report = wrn::FormatLatency(stats, batch_size);
  if (!wrn::WriteFile(time_dir + "/test_perform_static.txt", report.data(), report.size(), &error)) return Fail(error);
  std::cout << report;
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  wrn::Args args;
  std::string error;
  if (!wrn::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), &args, &error)) {
    std::cerr << "error: " << error << "\n" << wrn::Usage(argv[0]) << std::endl;
    return 2;
  }
  // The runtime reports some failures (an unreadable or too new MINDIR) by throwing: one line, never an abort.
  try {
    return Run(args);
  } catch (const std::exception& exc) {
    return Fail(std::string("MindSpore runtime: ") + exc.what());
  } catch (...) {
    return Fail("MindSpore runtime: unknown exception");
  }
}
