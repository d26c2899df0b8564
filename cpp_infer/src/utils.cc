#include "inc/utils.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

namespace wrn {

namespace {
bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  double rank = q / 100.0 * (values.size() - 1);
  size_t low = static_cast<size_t>(std::floor(rank));
  size_t high = static_cast<size_t>(std::ceil(rank));
  return values[low] + (values[high] - values[low]) * (rank - low);
}
}  // namespace

bool ParseArgs(const std::vector<std::string>& argv, Args* args, std::string* error) {
  for (const std::string& arg : argv) {
    size_t eq = arg.find('=');
    if (!StartsWith(arg, "--") || eq == std::string::npos) {
      *error = "argument '" + arg + "': expected --name=value";
      return false;
    }
    std::string name = arg.substr(2, eq - 2);
    std::string value = arg.substr(eq + 1);
    if (name == "mindir_path") {
      args->mindir_path = value;
    } else if (name == "input_dir") {
      args->input_dir = value;
    } else if (name == "output_dir") {
      args->output_dir = value;
    } else if (name == "device_type") {
      if (value != "Ascend310" && value != "Ascend" && value != "CPU") {
        *error = "--device_type=" + value + ": expected Ascend310, Ascend or CPU";
        return false;
      }
      args->device_type = value;
    } else if (name == "device_id") {
      char* end = nullptr;
      long id = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || id < 0 || id > 255) {
        *error = "--device_id=" + value + ": expected an integer 0-255";
        return false;
      }
      args->device_id = static_cast<int>(id);
    } else {
      *error = "unknown argument --" + name;
      return false;
    }
  }
  if (args->mindir_path.empty() || args->input_dir.empty()) {
    *error = std::string("missing ") + (args->mindir_path.empty() ? "--mindir_path" : "--input_dir");
    return false;
  }
  return true;
}

std::string Usage(const std::string& program) {
  return "usage: " + program +
         " --mindir_path=FILE --input_dir=DIR [--output_dir=DIR] [--device_type=Ascend310|Ascend|CPU] [--device_id=N]";
}

std::vector<std::string> ListBinFiles(const std::string& dir, std::string* error) {
  std::vector<std::string> files;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) {
    *error = "cannot open input folder " + dir + ": " + std::strerror(errno);
    return files;
  }
  while (struct dirent* entry = readdir(handle)) {
    std::string name = entry->d_name;
    std::string path = dir + "/" + name;
    struct stat info;
    if (EndsWith(name, ".bin") && stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      files.push_back(path);
    }
  }
  closedir(handle);
  std::sort(files.begin(), files.end());
  if (files.empty()) *error = "input folder " + dir + " holds no .bin files";
  return files;
}

std::string Stem(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

bool IsRegularFile(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool ReadFile(const std::string& path, std::vector<char>* data, std::string* error) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::streamsize size = in.tellg();
  in.seekg(0);
  data->resize(static_cast<size_t>(size));
  if (size > 0 && !in.read(data->data(), size)) {
    *error = "short read of " + path;
    return false;
  }
  return true;
}

bool WriteFile(const std::string& path, const void* data, size_t size, std::string* error) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size))) {
      *error = "cannot write " + temp + ": " + std::strerror(errno);
      return false;
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + temp + " to " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool MakeDirs(const std::string& dir, std::string* error) {
  std::string partial;
  std::stringstream parts(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') partial = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = "cannot create " + partial + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

std::string ElementTypeName(int data_type) {
  switch (data_type) {
    case kUInt8Type:
      return "uint8";
    case kFloat16Type:
      return "float16";
    case kFloat32Type:
      return "float32";
    default:
      return "type " + std::to_string(data_type);
  }
}

std::string DescribeInput(int data_type, const std::vector<int64_t>& shape) {
  std::string dims = "[";
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "," : "") + std::to_string(shape[i]);
  dims += "]";
  std::string layout = shape.size() == 4 && shape[3] == 3 ? "NHWC " : shape.size() == 4 && shape[1] == 3 ? "NCHW " : "";
  std::string what = data_type == kUInt8Type ? ", raw pixels that the model normalises itself"
                                             : ", normalised by preprocess.py";
  return ElementTypeName(data_type) + " " + layout + dims + what;
}

std::string CheckSize(const std::string& path, size_t actual, size_t expected, int data_type,
                      const std::vector<int64_t>& shape) {
  if (actual == expected) return "";
  std::string text = path + ": " + std::to_string(actual) + " bytes, expected " + std::to_string(expected) +
                     " (the model's input: " + DescribeInput(data_type, shape) + ")";
  if (data_type == kUInt8Type && actual == expected * 4) {
    text += "; that is the size of a float32 batch: preprocess.py wrote normalised files, but this model takes raw "
            "uint8 pixels (preprocess.py --sidecar MODEL.json, or --input raw)";
  } else if (data_type == kFloat32Type && actual * 4 == expected) {
    text += "; that is the size of a uint8 batch: preprocess.py wrote raw pixels, but this model takes normalised "
            "float32 (preprocess.py --sidecar MODEL.json, or --input normalised)";
  }
  return text;
}

LatencyStats ComputeLatency(const std::vector<double>& latencies_ms) {
  LatencyStats stats;
  stats.batches = latencies_ms.size();
  if (latencies_ms.empty()) return stats;
  stats.first_ms = latencies_ms.front();
  std::vector<double> steady(latencies_ms.size() > 1 ? latencies_ms.begin() + 1 : latencies_ms.begin(),
                             latencies_ms.end());
  stats.mean_ms = std::accumulate(steady.begin(), steady.end(), 0.0) / steady.size();
  stats.p50_ms = Percentile(steady, 50);
  stats.p99_ms = Percentile(steady, 99);
  return stats;
}

std::string FormatLatency(const LatencyStats& stats, size_t batch_size) {
  char text[512];
  std::snprintf(text, sizeof(text),
                "NN inference cost average time: %.3f ms of infer_count %zu\nbatch_size: %zu\nmean_ms: %.3f\n"
                "p50_ms: %.3f\np99_ms: %.3f\nfirst_ms: %.3f\nmean_ms_per_image: %.4f\n",
                stats.mean_ms, stats.batches, batch_size, stats.mean_ms, stats.p50_ms, stats.p99_ms, stats.first_ms,
                batch_size ? stats.mean_ms / batch_size : 0.0);
  return text;
}

}  // namespace wrn
