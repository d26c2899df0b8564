// Everything of the Ascend310 app that does not need the MindSpore C++ API: arguments, .bin files, latency.
#ifndef WRN_CPP_INFER_UTILS_H_
#define WRN_CPP_INFER_UTILS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wrn {

struct Args {
  std::string mindir_path;
  std::string input_dir;             // one batch of the model's input per .bin file (preprocess.py output)
  std::string output_dir = ".";      // receives result_Files/ and time_Result/
  // Ascend310 and Ascend (310P/910) both use Ascend310DeviceInfo, the one Ascend class every MindSpore version
  // has (AscendDeviceInfo, of which it is an alias from 1.6 on, is missing before); CPU uses CPUDeviceInfo.
  std::string device_type = "Ascend310";
  int device_id = 0;
};

// Parses --mindir_path=, --input_dir=, --output_dir=, --device_type=, --device_id=. On failure returns false and
// sets *error to one line naming the argument.
bool ParseArgs(const std::vector<std::string>& argv, Args* args, std::string* error);
std::string Usage(const std::string& program);

// Regular files ending in .bin, sorted by name (wrn_00000.bin, wrn_00001.bin, ...).
std::vector<std::string> ListBinFiles(const std::string& dir, std::string* error);
std::string Stem(const std::string& path);

bool IsRegularFile(const std::string& path);
bool ReadFile(const std::string& path, std::vector<char>* data, std::string* error);
// Writes to path + ".tmp" then renames, so no reader sees half a file.
bool WriteFile(const std::string& path, const void* data, size_t size, std::string* error);
bool MakeDirs(const std::string& dir, std::string* error);
// The model input's element type by the values of MindSpore's DataType enum (include/api/data_type.h, not included
// here so this stays MindSpore-free): kNumberTypeUInt8 = 37, kNumberTypeFloat16 = 42, kNumberTypeFloat32 = 43.
constexpr int kUInt8Type = 37;
constexpr int kFloat16Type = 42;
constexpr int kFloat32Type = 43;
std::string ElementTypeName(int data_type);
// What the model takes, for messages: "uint8 NHWC [1,32,32,3], raw pixels that the model normalises itself" or
// "float32 NCHW [1,3,32,32], normalised by preprocess.py".
std::string DescribeInput(int data_type, const std::vector<int64_t>& shape);
// One line naming the file, its size, the expected size and the model's input, or an empty string when they agree.
// A float32 file for a uint8 model (4 bytes a value instead of 1), and the other way round, are named as such.
std::string CheckSize(const std::string& path, size_t actual, size_t expected, int data_type,
                      const std::vector<int64_t>& shape);

struct LatencyStats {
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double first_ms = 0;
  size_t batches = 0;
};
// The first batch (warm-up) is reported as first_ms and left out of mean/p50/p99 when there are others.
LatencyStats ComputeLatency(const std::vector<double>& latencies_ms);
std::string FormatLatency(const LatencyStats& stats, size_t batch_size);

}  // namespace wrn

#endif  // WRN_CPP_INFER_UTILS_H_
