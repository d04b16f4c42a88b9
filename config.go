package ferry

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// Keys of the cfg map that Start reads; see the package doc.
const (
	KeySink        = "K_SINK"
	KeyRabbitMQURL = "FERRY_RABBITMQ_URL"
	KeyExchange    = "FERRY_RABBITMQ_EXCHANGE"
	KeyBroker      = "FERRY_BROKER"
	KeyRedisURL    = "FERRY_REDIS_URL"
	KeyRedisPrefix = "FERRY_REDIS_PREFIX"
	KeyDataDir     = "FERRY_DATA_DIR"
	KeyWaitMax     = "FERRY_WAIT_MAX"
	KeyLogLevel    = "FERRY_LOG_LEVEL"
)

// Defaults of Config.
const (
	// DataDirDefault holds tasks.db when there is no Redis.
	DataDirDefault = ".ferry"
	// WaitMaxDefault is the longest long poll: below func-go's 30 s
	// WriteTimeout, which would cut a longer answer.
	WaitMaxDefault = 25 * time.Second
)

// ErrNoSink is returned by Start when cfg has no K_SINK: the ingress has
// no Broker to publish to.
var ErrNoSink = errors.New("K_SINK is not set: bind the ingress to a " +
	"Broker with a SinkBinding (config/base/ingress.yaml)")

// Config is the ingress's configuration, read from Start's cfg map.
type Config struct {
	// Sink is the Broker's URL (K_SINK).
	Sink string
	// RabbitMQURL and Exchange, when both set, make the ingress publish
	// straight to the RabbitMQ broker's exchange instead of posting to
	// Sink (FERRY_RABBITMQ_URL, FERRY_RABBITMQ_EXCHANGE).
	RabbitMQURL string
	Exchange    string
	// Broker is the Broker's name (FERRY_BROKER).
	Broker string
	// RedisURL, when set, selects the Redis task store (FERRY_REDIS_URL);
	// RedisPrefix starts its keys.
	RedisURL    string
	RedisPrefix string
	// DataDir holds tasks.db when RedisURL is empty (FERRY_DATA_DIR).
	DataDir string
	// WaitMax caps ?wait= (FERRY_WAIT_MAX, a Go duration).
	WaitMax time.Duration
	// LogLevel is the level of the JSON log on stderr (FERRY_LOG_LEVEL).
	LogLevel slog.Level
}

// ParseConfig reads cfg, with the defaults above for absent keys. It fails
// on a missing K_SINK (ErrNoSink) and on values that do not parse.
func ParseConfig(cfg map[string]string) (Config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(cfg[key]); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Sink:        get(KeySink, ""),
		RabbitMQURL: get(KeyRabbitMQURL, ""),
		Exchange:    get(KeyExchange, ""),
		Broker:      get(KeyBroker, eventing.SinkBrokerDefault),
		RedisURL:    get(KeyRedisURL, ""),
		RedisPrefix: get(KeyRedisPrefix, ""),
		DataDir:     get(KeyDataDir, DataDirDefault),
		WaitMax:     WaitMaxDefault,
	}
	if (c.RabbitMQURL == "") != (c.Exchange == "") {
		return Config{}, fmt.Errorf("%s and %s go together: set both to "+
			"publish straight to RabbitMQ, or neither", KeyRabbitMQURL, KeyExchange)
	}
	if c.Sink == "" && c.RabbitMQURL == "" {
		return Config{}, ErrNoSink
	}
	if v := get(KeyWaitMax, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s=%q: want a positive duration "+
				"such as 25s", KeyWaitMax, v)
		}
		c.WaitMax = d
	}
	level := get(KeyLogLevel, "info")
	if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return Config{}, fmt.Errorf("%s=%q: use debug, info, warn or error",
			KeyLogLevel, level)
	}
	return c, nil
}
