// Package conformance proves that the Broker of `ferry dev` behaves like a
// Knative Broker (issue 3). Its tests are the suite: each starts ferry dev
// in-process (devstack.Start, no functions, manifests it writes into a
// fresh config folder), uses httptest servers on 127.0.0.1 as subscribers
// and dead letter sinks (Trigger and Broker `uri:` destinations), posts to
// the Broker ingress at POST /default/<broker> and checks what the
// subscribers received (headers, body, count) and the task at
// GET /v1/tasks/{id}. Backoff delays are 0.1 s (PT0.05S reads as no delay
// at all: Knative's ISO-8601 reader keeps tenths of a second); waits are
// polls with a 20 s deadline; times are checked only as lower bounds and
// order, never as speed. A few negative checks ("nothing more arrived")
// wait 300 ms first.
//
// Broker ingress (ingress_test.go):
//
//   - TestBrokerAcceptsSpecVersion10: 1.0 is accepted and reaches the
//     subscriber unchanged (attributes, extension, content type, body).
//   - TestBrokerAcceptsSpecVersion03: 0.3, binary and structured, is
//     accepted and delivered as 0.3.
//   - TestBrokerRefusesSpecVersion19: 19.0 gets 400 problem+json
//     unsupported-specversion, in both modes; nothing is delivered.
//   - TestBrokerAnswersOtherMethodsWith405: GET, PUT, DELETE, PATCH get
//     405 with an Allow naming POST.
//   - TestBrokerAnswersWebhookHandshake: OPTIONS answers the CloudEvents
//     webhook handshake (WebHook-Allowed-Origin, -Rate, Allow).
//   - TestBrokerUnknownIs404: an unknown Broker or namespace gets 404
//     broker-not-found.
//   - TestBrokerRefusesEventMissingAttribute: a missing id, type, source
//     or specversion gets 400 naming the attribute, in both modes.
//   - TestBrokerRefusesBodyThatIsNotACloudEvent: a plain body, broken
//     JSON, a JSON array, a numeric id get 400.
//   - TestBrokerRefusesBatchMode: batch mode gets 415 (Ferry's decision:
//     one event per request, as Knative's Broker ingress).
//   - TestBrokerDeliversBinaryBodiesIntact: JSON, XML and 4 KiB of random
//     bytes in binary mode arrive byte for byte, with their content type.
//   - TestBrokerAcceptsStructuredMode: structured events (JSON data, text,
//     data_base64) are delivered in binary mode with their data intact.
//   - TestDuplicateEventIsDeliveredOnce: the same source and id posted
//     twice is one task and one delivery (Ferry's rule, not Knative's).
//   - TestDefaultBrokerWhenNoneDeclared: without a Broker manifest,
//     /default/default takes events.
//
// Triggers and filters (filter_test.go, filter_validation_test.go):
//
//   - TestTriggerWithoutFilterDeliversEveryEvent: no filter, every event.
//   - TestTriggerFilterMismatchIsNotDelivered: a mismatch is not delivered.
//   - TestTriggerFilterMatchIsDelivered: a match (type, source, extension)
//     is delivered.
//   - TestTwoMatchingTriggersBothReceive: both matching Triggers receive,
//     a third does not.
//   - TestFilterExact, TestFilterPrefix, TestFilterSuffix, TestFilterAll,
//     TestFilterAny, TestFilterNot, TestFilterCESQL: each dialect alone.
//   - TestFiltersCombined: five dialects in one spec.filters, all must pass.
//   - TestFiltersOverrideFilter: a non-empty spec.filters replaces
//     spec.filter.
//   - TestFilterMissingExtensionIsNotDelivered: an event without the
//     filtered extension is not delivered (attributes, exact, prefix,
//     cesql).
//   - TestFilterEmptyValueMeansPresent: an empty attribute value matches
//     any value, not absence.
//   - TestFilterMatchesIntegerExtensionAsString: "priority": 150 in
//     structured JSON matches the filter value "150".
//   - TestInvalidCESQLStopsStart: eleven invalid expressions (several
//     panic in Knative v0.50.0's constructor) make Start fail naming the
//     Trigger, without a panic.
//   - TestFilterWithTwoDialectsStopsStart: two dialects in one element
//     make Start fail naming the Trigger.
//   - TestNonBooleanCESQLStopsStart: expressions that parse but yield no
//     boolean ("type", "1 + 1") make Start fail naming the Trigger.
//   - TestCESQLYieldingNonBooleanNeverMatches: "myext", a string only on
//     events that have it, matches nothing, not even under not, and
//     neither the post nor the routing of a reply crashes.
//
// Delivery (delivery_test.go, retryafter_test.go):
//
//   - TestBrokerDeliveryAppliesWhenTriggerHasNone: the Broker's retry 3
//     survives 3 failures (4 attempts); 4 failures go to its dead letter
//     sink, once.
//   - TestTriggerDeliveryOverridesBrokerDelivery: the Trigger's retry 1
//     replaces the Broker's retry 5, and without a sink of its own the
//     Broker's sink is not used.
//   - TestTriggerDeadLetterSinkIsUsedBeforeBrokers: the Trigger's sink
//     gets the event, the Broker's does not.
//   - TestLinearBackoffRetry5SurvivesDroppedDeliveries: 5 failures, then
//     success on attempt 6; the gaps are at least n·delay and grow.
//   - TestExponentialBackoffGapsDouble: gaps at least delay·2^n.
//   - TestRetryableAnswersAreRetried: 404, 408, 409, 429, 500, 502, 503,
//     504, a timeout (delivery.timeout PT0.5S) and a refused connection
//     are tried again.
//   - TestOtherClientErrorsAreNotRetried: 400, 401, 403, 405, 413, 415,
//     422 are tried once and dead-lettered with their code.
//   - TestRetryAfterIgnoredWithoutRetryAfterMax: a 429 or 503 asking for
//     an hour is retried after the backoff.
//   - TestRetryAfterMaxIsRefusedInManifests: retryAfterMax in a manifest
//     stops Start, as Knative's default features refuse it.
//   - TestRetryAfterHonouredWithRetryAfterMax: with retryAfterMax, a 429
//     or 503 is retried no sooner than its Retry-After (seconds or HTTP
//     date), and an hour asked is capped at retryAfterMax.
//   - TestRetryAfterOf500IsIgnored: a 500's Retry-After does not count.
//   - TestDeliveryUsesBinaryModeWithKnativeHeaders: deliveries are binary
//     mode with Kn-Namespace and Prefer: reply.
//
// Dead letters (deadletter_test.go):
//
//   - TestDeadLetterCarriesErrorExtensions: one copy, the original event
//     plus knativeerrordest (the subscriber), knativeerrorcode and
//     knativeerrordata (base64 of a 5 KiB answer's start, at most 1024
//     characters).
//   - TestDeadLetterSinkDownStillGetsEvent: a sink that drops 3
//     connections and answers 503 twice still gets the event.
//
// Replies (reply_test.go):
//
//   - TestReplyReachesAnotherTrigger: a reply reaches another Trigger with
//     correlationid (the task id) and causationid (the event's id).
//   - TestStructuredReplyIsReingested: a structured-mode reply too.
//   - TestEmptyReplyEndsDelivery: an empty 2xx: succeeded, no reply, 204
//     result.
//   - TestNonCloudEventReplyIsFailedDelivery: a 2xx body that is no
//     CloudEvent fails as 502 and is retried, then dead-lettered.
//   - TestLargeEventAndReplyDeliveredOnce: a 36 KiB event and a 36 KiB
//     reply arrive intact, once each.
//   - TestBrokerTTLEndsReplyLoop: an event with knativebrokerttl 3 whose
//     subscriber always replies to itself is delivered 3 times, then the
//     last event takes the dead letter path.
//   - TestReplyReusingEventIDFailsVisibly: a reply with its event's source
//     and id fails the task with a reason instead of leaving it running.
//
// Tasks (task_test.go):
//
//   - TestTaskRetryingShowsAttempts: retrying with attempts 1, then 2,
//     code, reason and the next attempt; then succeeded after 3.
//   - TestTaskFailedWhenDeadLettered: failed with code 503 and a reason;
//     the result is 409 task-failed.
//
// PingSources (ping_test.go):
//
//   - TestPingSourceFiresIntoBroker: "*/1 * * * * *" (six fields) fires
//     dev.knative.sources.ping from
//     /apis/v1/namespaces/default/pingsources/<name> with its data and
//     content type.
//   - TestPingSourceWithEveryStopsStart: @every stops Start.
//   - TestPingSourceHonoursTimezone: the next firing in Kiritimati,
//     Honolulu, Berlin (across daylight saving time) and UTC, via
//     eventing.NewPing(...).Next.
//
// Where Ferry knowingly differs from Knative's reference broker, the test
// says so: a duplicate is delivered once; a reply reusing its event's
// source and id fails instead of being routed; a producer's
// knativebrokerttl is not decremented on arrival, so ttl 3 allows three
// deliveries where Knative allows two. Retry-After with retryAfterMax is
// checked on the parts Start assembles, put together in the test, because
// a manifest cannot set retryAfterMax under Knative's default features,
// which ferry dev validates with.
package conformance
