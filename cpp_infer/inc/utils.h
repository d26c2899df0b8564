// Everything of the Ascend310 app that does not need the MindSpore C++ API: arguments, .bin files, latency.
#ifndef WRN_CPP_INFER_UTILS_H_
#define WRN_CPP_INFER_UTILS_H_

#include <cstddef>
#include <string>
#include <vector>

namespace wrn {

struct Args {
  std::string mindir_path;
  std::string input_dir;             // float32 NCHW batches, one per .bin file (preprocess.py output)
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
// One line naming the file, its size and the expected size, or an empty string when they agree.
std::string CheckSize(const std::string& path, size_t actual, size_t expected);

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
