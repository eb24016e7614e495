package loadkit

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// CPUTime is a process's user+system CPU time, from /proc/PID/stat
// (USER_HZ is 100 on Linux); pid 0 is this process. It is 0 when the
// process cannot be read.
func CPUTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// CoreBusy returns the busy and total jiffies of one core ("0", "1", …),
// from /proc/stat, to show whether anything else ran on a server's core.
// Idle and iowait count as not busy.
func CoreBusy(core string) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu"+core {
			continue
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
	}
	return busy, total
}

// Mem is a process's resident memory, from /proc/PID/status.
type Mem struct {
	RSSKiB int64 `json:"rssKiB"` // VmRSS
	HWMKiB int64 `json:"hwmKiB"` // VmHWM: peak RSS since the process started
	// AnonKiB and FileKiB split RSS into anonymous memory (Go heap, stacks,
	// runtime) and file-backed pages (the binary's text and data).
	AnonKiB int64 `json:"rssAnonKiB"` // RssAnon
	FileKiB int64 `json:"rssFileKiB"` // RssFile
}

// ReadMem reads pid's resident memory.
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("loadkit: memory of %d: %w", pid, err)
	}
	return parseStatus(string(b)), nil
}

func parseStatus(s string) Mem {
	var m Mem
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSSKiB = n
		case "VmHWM":
			m.HWMKiB = n
		case "RssAnon":
			m.AnonKiB = n
		case "RssFile":
			m.FileKiB = n
		}
	}
	return m
}

// MiB converts KiB to MiB.
func MiB(kib int64) float64 { return float64(kib) / 1024 }

// FirstCPU is the first CPU of a taskset list such as "1", "0,2" or "2-3".
func FirstCPU(list string) string {
	f, _, _ := strings.Cut(list, ",")
	f, _, _ = strings.Cut(f, "-")
	return f
}

// CPUCount is the number of CPUs in a taskset list such as "1", "0,2" or
// "2-3"; it is at least 1.
func CPUCount(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		a, b, ok := strings.Cut(part, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		switch {
		case !ok && err1 == nil:
			n++
		case ok && err1 == nil && err2 == nil && hi >= lo:
			n += hi - lo + 1
		}
	}
	return max(n, 1)
}

// Pin moves every thread of pid to cpus with "taskset -a -p -c".
func Pin(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, out)
	}
	return nil
}

// StartPerf samples pid's call stacks with "perf record -g" into out until
// the returned func is called.
func StartPerf(out string, pid int) (stop func(), err error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "999", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}
