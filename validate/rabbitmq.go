package validate

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RabbitmqCluster is the RabbitMQ cluster operator's CRD
// (rabbitmq.com/v1beta1), with the fields its documentation lists; Ferry
// does not import the operator, so an unknown field is an error here as
// the API server's schema would make it.
type RabbitmqCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RabbitmqClusterSpec `json:"spec,omitempty"`
}

// RabbitmqClusterSpec is the documented spec of a RabbitmqCluster.
type RabbitmqClusterSpec struct {
	Replicas                      *int32                        `json:"replicas,omitempty"`
	Image                         string                        `json:"image,omitempty"`
	ImagePullSecrets              []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	Service                       *RabbitmqClusterService       `json:"service,omitempty"`
	Persistence                   *RabbitmqClusterPersistence   `json:"persistence,omitempty"`
	Resources                     *corev1.ResourceRequirements  `json:"resources,omitempty"`
	Affinity                      *corev1.Affinity              `json:"affinity,omitempty"`
	Tolerations                   []corev1.Toleration           `json:"tolerations,omitempty"`
	Rabbitmq                      *RabbitmqClusterConfig        `json:"rabbitmq,omitempty"`
	TLS                           *RabbitmqClusterTLS           `json:"tls,omitempty"`
	Override                      map[string]any                `json:"override,omitempty"`
	SkipPostDeploySteps           bool                          `json:"skipPostDeploySteps,omitempty"`
	TerminationGracePeriodSeconds *int64                        `json:"terminationGracePeriodSeconds,omitempty"`
	DelayStartSeconds             *int32                        `json:"delayStartSeconds,omitempty"`
	SecretBackend                 map[string]any                `json:"secretBackend,omitempty"`
}

// RabbitmqClusterService configures the cluster's client Service.
type RabbitmqClusterService struct {
	Type           corev1.ServiceType `json:"type,omitempty"`
	Annotations    map[string]string  `json:"annotations,omitempty"`
	IPFamilyPolicy string             `json:"ipFamilyPolicy,omitempty"`
}

// RabbitmqClusterPersistence configures the nodes' volumes.
type RabbitmqClusterPersistence struct {
	StorageClassName *string `json:"storageClassName,omitempty"`
	Storage          string  `json:"storage,omitempty"`
}

// RabbitmqClusterConfig holds RabbitMQ's own configuration.
type RabbitmqClusterConfig struct {
	AdditionalPlugins []string `json:"additionalPlugins,omitempty"`
	AdditionalConfig  string   `json:"additionalConfig,omitempty"`
	AdvancedConfig    string   `json:"advancedConfig,omitempty"`
	EnvConfig         string   `json:"envConfig,omitempty"`
	ErlangInetConfig  string   `json:"erlangInetConfig,omitempty"`
}

// RabbitmqClusterTLS configures TLS.
type RabbitmqClusterTLS struct {
	SecretName             string `json:"secretName,omitempty"`
	CaSecretName           string `json:"caSecretName,omitempty"`
	DisableNonTLSListeners bool   `json:"disableNonTLSListeners,omitempty"`
}

// RabbitmqBrokerConfig is eventing-rabbitmq's Broker configuration
// (eventing.knative.dev/v1alpha1), which a RabbitMQBroker's spec.config
// names.
type RabbitmqBrokerConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RabbitmqBrokerConfigSpec `json:"spec,omitempty"`
}

// RabbitmqBrokerConfigSpec is the documented spec of a RabbitmqBrokerConfig.
type RabbitmqBrokerConfigSpec struct {
	RabbitmqClusterReference *RabbitmqClusterReference `json:"rabbitmqClusterReference,omitempty"`
	// QueueType is "quorum" (the default) or "classic".
	QueueType string `json:"queueType,omitempty"`
}

// RabbitmqClusterReference names the RabbitmqCluster (or a connection
// secret for a RabbitMQ outside the cluster).
type RabbitmqClusterReference struct {
	Name             string                       `json:"name,omitempty"`
	Namespace        string                       `json:"namespace,omitempty"`
	ConnectionSecret *corev1.LocalObjectReference `json:"connectionSecret,omitempty"`
}
