package bench

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// CPU is processor time (user and system) that the processes of a
// measurement used. Self is this process: the load generator, the Ferry
// stack under test and the trivial subscriber alike. RabbitMQ and Redis are
// their servers' processes when they run on this machine; a Have flag is
// false when the server was not found here, and its time is then unknown.
//
// Machine is the time every processor of the machine spent busy, on any
// process: more than the three together means something else ran too.
type CPU struct {
	Self, RabbitMQ, Redis, Machine       time.Duration
	HaveRabbitMQ, HaveRedis, HaveMachine bool
}

// Sub is the time used between an earlier reading o and c.
func (c CPU) Sub(o CPU) CPU {
	return CPU{Self: c.Self - o.Self, RabbitMQ: c.RabbitMQ - o.RabbitMQ,
		Redis: c.Redis - o.Redis, Machine: c.Machine - o.Machine,
		HaveRabbitMQ: c.HaveRabbitMQ && o.HaveRabbitMQ,
		HaveRedis:    c.HaveRedis && o.HaveRedis,
		HaveMachine:  c.HaveMachine && o.HaveMachine}
}

// Total is the time of every process known.
func (c CPU) Total() time.Duration { return c.Self + c.RabbitMQ + c.Redis }

// Known reports whether every process was measured.
func (c CPU) Known() bool { return c.HaveRabbitMQ && c.HaveRedis }

// cpuMeter reads the CPU time of this process and of the local RabbitMQ
// and Redis servers from /proc. It finds the servers by their process
// names (beam.smp, redis-server) once, when their URLs name this machine.
type cpuMeter struct {
	rabbitmq, redis string // /proc/<pid>/stat paths, "" when not found
}

// clockTick is the unit of the times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for every architecture Go runs on.
const clockTick = 10 * time.Millisecond

// newCPUMeter finds the servers of o.
func newCPUMeter(o Options) *cpuMeter {
	m := &cpuMeter{}
	if isLoopbackURL(o.AMQPURL) {
		m.rabbitmq = statsOf("beam.smp")
	}
	if isLoopbackURL(o.RedisURL) {
		m.redis = statsOf("redis-server")
	}
	return m
}

// read is the CPU time used so far. A meter that is nil, or that cannot
// read /proc, reads zero with nothing known.
func (m *cpuMeter) read() CPU {
	if m == nil {
		return CPU{}
	}
	var c CPU
	self, ok := statTime("/proc/self/stat")
	if !ok {
		return CPU{}
	}
	c.Self = self
	c.RabbitMQ, c.HaveRabbitMQ = statTime(m.rabbitmq)
	c.Redis, c.HaveRedis = statTime(m.redis)
	c.Machine, c.HaveMachine = machineBusy("/proc/stat")
	return c
}

// machineBusy reads the busy time of all processors from the "cpu" line
// of a /proc/stat file: user, nice, system, irq, softirq and steal (not
// idle and iowait; guest time is already in user).
func machineBusy(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, false
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(string(fields[i]), 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, true
}

// statTime reads utime + stime from a /proc/<pid>/stat file: the 14th
// and 15th fields, counted after the parenthesised command name (which
// may hold spaces).
func statTime(path string) (time.Duration, bool) {
	if path == "" {
		return 0, false
	}
	fields, ok := statFields(path)
	if !ok || len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}

// statsOf is the stat file of the server named comm, "" when none runs:
// of the processes of that name, the one that started first. Short-lived
// ones of the same name (rabbitmqctl runs a beam.smp of its own) come and
// go during a run.
func statsOf(comm string) string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var oldest string
	var oldestStart int64
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || string(bytes.TrimSpace(b)) != comm {
			continue
		}
		path := filepath.Join(d, "stat")
		start, ok := statStart(path)
		if ok && (oldest == "" || start < oldestStart) {
			oldest, oldestStart = path, start
		}
	}
	return oldest
}

// statStart reads a process's start time, in ticks after boot, from its
// stat file: the 22nd field.
func statStart(path string) (int64, bool) {
	fields, ok := statFields(path)
	if !ok || len(fields) < 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(fields[19]), 10, 64)
	return n, err == nil
}

// statFields are the fields of a /proc/<pid>/stat file after the
// parenthesised command name (which may hold spaces): field 3 onwards.
func statFields(path string) ([][]byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return bytes.Fields(b[i+1:]), true
}

// isLoopbackURL reports whether raw's host is this machine.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
