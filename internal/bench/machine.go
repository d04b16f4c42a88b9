package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// fsyncProbes is how many 4 KiB write-and-fsync rounds measure the disk.
const fsyncProbes = 50

// Machine describes where a run was measured.
type Machine struct {
	CPUs     int
	Model    string
	MemGiB   float64
	Kernel   string
	Go       string
	RabbitMQ string
	Redis    string
	// FsyncP50 and FsyncMax are the median and the slowest of
	// fsyncProbes rounds of writing 4 KiB and fsyncing it in the
	// temporary directory: what one durable commit costs at least.
	FsyncP50, FsyncMax time.Duration
	// LoadAvg is the 1, 5 and 15 minute load average when the run began:
	// anything above 0 on an otherwise idle machine is other work.
	LoadAvg string
}

// describeMachine gathers the Machine. What cannot be read is "unknown".
func describeMachine(ctx context.Context, o Options) Machine {
	m := Machine{
		CPUs:     runtime.NumCPU(),
		Model:    cpuModel(),
		MemGiB:   memGiB(),
		Kernel:   firstLine("/proc/sys/kernel/osrelease"),
		Go:       runtime.Version(),
		RabbitMQ: rabbitVersion(o.AMQPURL),
		Redis:    redisVersion(ctx, o.RedisURL),
		LoadAvg:  loadAvg(),
	}
	if lat, err := fsyncProbe(os.TempDir()); err == nil {
		m.FsyncP50, m.FsyncMax = lat.P50(), lat.Quantile(1)
	}
	return m
}

func firstLine(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memGiB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			return kb / (1 << 20)
		}
	}
	return 0
}

func loadAvg() string {
	fields := strings.Fields(firstLine("/proc/loadavg"))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// rabbitVersion asks `rabbitmqctl version`, else the version the server
// announces on connecting.
func rabbitVersion(amqpURL string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", "version").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return "unknown"
	}
	defer conn.Close()
	if v, ok := conn.Properties["version"].(string); ok {
		return v
	}
	return "unknown"
}

// redisVersion reads redis_version from INFO server.
func redisVersion(ctx context.Context, redisURL string) string {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "unknown"
	}
	c := redis.NewClient(opts)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line),
			"redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}

// fsyncProbe writes and fsyncs 4 KiB fsyncProbes times in dir.
func fsyncProbe(dir string) (Latencies, error) {
	f, err := os.CreateTemp(dir, "ferry-bench-fsync-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	var lat Latencies
	for range fsyncProbes {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// String is the machine in one line.
func (m Machine) String() string {
	fsync := "unknown"
	if m.FsyncP50 > 0 {
		fsync = fmt.Sprintf("p50 %s, max %s", formatDuration(m.FsyncP50),
			formatDuration(m.FsyncMax))
	}
	return fmt.Sprintf("%d × %s, %.1f GiB RAM, Linux %s, %s, RabbitMQ %s, "+
		"Redis %s; fsync of 4 KiB %s; load average at start %s",
		m.CPUs, m.Model, m.MemGiB, m.Kernel, m.Go, m.RabbitMQ, m.Redis,
		fsync, m.LoadAvg)
}
