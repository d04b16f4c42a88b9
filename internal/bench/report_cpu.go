package bench

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// writeBounds says under the table how far HTTP in front of RabbitMQ goes
// on this machine at the target points (the floors), and what share of
// that Ferry reaches.
func (r *Report) writeBounds(b *strings.Builder) {
	floor, ok := r.Floor.Ingress[targetConcurrency]
	if bound, okBound := r.publishRatio(floor, targetConcurrency); ok &&
		okBound && floor.Rate() > 0 {
		fmt.Fprintf(b, "\nBound for (b) at c=%d: with no Ferry in it, HTTP "+
			"(Go's net/http at both ends) in front of RabbitMQ takes in "+
			"%.2f of raw publish on this machine (the target asks %.2f of "+
			"Ferry)", targetConcurrency, bound, TargetIngressRatio)
		if t, ok := r.Ingress[targetConcurrency]; ok && t.Rate() > 0 {
			fmt.Fprintf(b, "; Ferry's ingress reaches %.2f of that floor",
				t.Rate()/floor.Rate())
		}
		b.WriteString(".\n")
	}
	floorD, ok := r.Floor.Dispatch[targetParallelism]
	if bound, okBound := r.consumeRatio(floorD); ok && okBound &&
		floorD.Rate() > 0 {
		fmt.Fprintf(b, "\nBound for (c) at p=%d: with no Ferry in it, "+
			"delivering from RabbitMQ over HTTP (Go's net/http at both ends) "+
			"goes at %.2f of raw consume on this machine (the target asks "+
			"%.2f of Ferry)", targetParallelism, bound, TargetDispatchRatio)
		if d, ok := r.Dispatch[targetParallelism]; ok && d.Rate() > 0 {
			fmt.Fprintf(b, "; Ferry's dispatch reaches %.2f of that floor",
				d.Rate()/floorD.Rate())
		}
		b.WriteString(".\n")
	}
}

// writeCPU renders the CPU time of each row that has it, per event and
// as cores busy over the row's window or drain.
func writeCPU(b *strings.Builder, rows []row) {
	var lines []string
	for _, rw := range rows {
		if rw.span <= 0 || rw.events <= 0 || rw.cpu.Self <= 0 {
			continue
		}
		per := func(d time.Duration, have bool) string {
			if !have {
				return "–"
			}
			return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/
				float64(rw.events))
		}
		all := rw.cpu.Self
		if rw.cpu.HaveRabbitMQ {
			all += rw.cpu.RabbitMQ
		}
		if rw.cpu.HaveRedis {
			all += rw.cpu.Redis
		}
		machine := "–"
		if rw.cpu.HaveMachine {
			machine = fmt.Sprintf("%.2f", rw.cpu.Machine.Seconds()/
				rw.span.Seconds())
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | "+
			"%s | %s | %.2f | %s |", rw.id, rw.what, rw.setting, rw.rate,
			per(rw.cpu.Self, true), per(rw.cpu.RabbitMQ, rw.cpu.HaveRabbitMQ),
			per(rw.cpu.Redis, rw.cpu.HaveRedis), per(all, true),
			all.Seconds()/rw.span.Seconds(), machine))
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\nCPU time per event, by process, over each window " +
		"(read from /proc at its start and end; \"this process\" is the " +
		"load generator, the stack under test and the subscriber together; " +
		"RabbitMQ is beam.smp and Redis redis-server, when they run on " +
		"this machine; \"cores busy\" is their time over the window's, " +
		"\"machine\" the same for every process of the machine, which " +
		"has " + strconv.Itoa(runtime.NumCPU()) + " cores):\n\n")
	b.WriteString("| | measured | setting | events/s | this process | " +
		"RabbitMQ | Redis | all | cores busy | machine |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
}
