// executor.cpp — see executor.h. Workers are created on demand; at most one idle worker is kept (the others' threads
// end when their job does). Threads are never joined (shutdown_jobs in async_job.cpp waits for the jobs, not the
// threads); a job starts once it heads the queue and its threads fit the budget.
#include "executor.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "../core/memory.h"
#include "../core/threads.h"

namespace lk {

namespace {

struct Task {
  int threads = 0;  // resolved: 1 … budget
  const void* owner = nullptr;
  std::function<Status()> job;
  std::function<void(const Status&)> done;
};

Status run_guarded(const std::function<Status()>& job) {
  try {
    return job();
  } catch (const std::bad_alloc& e) {
    return out_of_memory_status(e);
  } catch (const std::exception& e) {
    return Status::Error(Code::Backend, e.what());
  } catch (...) {
    return Status::Error(Code::Backend, "unknown native exception");
  }
}

class ComputePool {
 public:
  ComputePool() : budget_(max_compute_threads()) {}

  int resolve(int threads) const { return threads <= 0 || threads > budget_ ? budget_ : threads; }

  void post(Task task) {
    task.threads = resolve(task.threads);
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
    dispatch_locked();
  }

  int drop(const void* owner) {
    std::deque<Task> dropped;  // destroyed outside the lock
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->owner == owner) {
          dropped.push_back(std::move(*it));
          it = queue_.erase(it);
          ++n;
        } else {
          ++it;
        }
      }
    }
    return n;
  }

  bool idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return running_threads_ == 0 && queue_.empty();
  }

  PoolStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return PoolStats{budget_, running_threads_, static_cast<int>(queue_.size()), static_cast<int>(workers_.size())};
  }

 private:
  struct Worker {
    std::condition_variable cv;
    bool has_task = false;
    Task task;
    int team = -1;  // the OpenMP team size this master last set
  };

  // Starts queued tasks in order while the head fits the budget; the most recently idle worker first.
  void dispatch_locked() {
    while (!queue_.empty() && running_threads_ + queue_.front().threads <= budget_) {
      Worker* w = nullptr;
      if (!idle_.empty()) {
        w = idle_.back();
        idle_.pop_back();
      } else {
        workers_.push_back(std::make_unique<Worker>());
        w = workers_.back().get();
        std::thread([this, w] { loop(w); }).detach();
      }
      w->task = std::move(queue_.front());
      queue_.pop_front();
      running_threads_ += w->task.threads;
      w->has_task = true;
      w->cv.notify_one();
    }
  }

  void loop(Worker* w) {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        w->cv.wait(lock, [&] { return w->has_task; });
        task = std::move(w->task);
        w->has_task = false;
      }
      if (task.threads != w->team) {
        set_compute_threads(task.threads);
        w->team = task.threads;
      }
      Status s = run_guarded(task.job);
      task.done(s);
      const int used = task.threads;
      task = Task{};  // release the job's captures before the worker is handed out again
      std::lock_guard<std::mutex> lock(mu_);
      running_threads_ -= used;
      if (!idle_.empty() && queue_.empty()) {
        // One idle worker is enough to start the next job; this one's thread ends, and with it its OpenMP team
        // (libgomp shortens its spin-waits once it manages more threads than CPUs: a parked second team made a
        // 2-thread step 15% slower).
        workers_.erase(std::find_if(workers_.begin(), workers_.end(), [&](const auto& p) { return p.get() == w; }));
        return;
      }
      idle_.push_back(w);
      dispatch_locked();
    }
  }

  const int budget_;
  std::mutex mu_;
  std::deque<Task> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*> idle_;  // most recently idle last
  int running_threads_ = 0;
};

ComputePool& pool() {
  static ComputePool* p = new ComputePool();  // never destroyed: detached workers may outlive statics
  return *p;
}

// A synchronous job on the calling thread, alone (see ScopedSingleThreadCompute).
Status run_inline(const std::function<Status()>& job) {
  ScopedSingleThreadCompute single;
  return run_guarded(job);
}

}  // namespace

void post_to_compute_thread(int threads, const void* owner, std::function<Status()> job,
                            std::function<void(const Status&)> done) {
  pool().post(Task{threads, owner, std::move(job), std::move(done)});
}

int drop_queued(const void* owner) { return pool().drop(owner); }

PoolStats pool_stats() { return pool().stats(); }

Status run_on_compute_thread(int threads, double flops, const std::function<Status()>& job) {
  if (flops < kInlineFlops || !pool().idle()) return run_inline(job);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result;
  post_to_compute_thread(threads, nullptr, job, [&](const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    result = s;
    finished = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

}  // namespace lk
