package apiserver

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/lattice-federation/lattice/crdt"
)

// storeError maps a store failure to an API status.
func storeError(err error) error {
	switch {
	case errors.Is(err, crdt.ErrInvalid):
		// The store refuses what the API let through: too large or too
		// deeply nested for the CRDT limits.
		return apierrors.NewRequestEntityTooLargeError(err.Error())
	case errors.Is(err, crdt.ErrClosed):
		return apierrors.NewServiceUnavailable("the member is shutting down")
	}
	return apierrors.NewInternalError(err)
}

// validateLabelsAnnotations checks metadata labels and annotations as
// Kubernetes does.
func validateLabelsAnnotations(labels, annotations map[string]string) field.ErrorList {
	p := field.NewPath("metadata")
	errs := metav1validation.ValidateLabels(labels, p.Child("labels"))
	return append(errs, apivalidation.ValidateAnnotations(annotations, p.Child("annotations"))...)
}
