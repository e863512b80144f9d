"""Appointments (预约): bookings from a booking system, kiosk check-in, no-show voiding."""

from .feature import Appointments

__all__ = ["Appointments"]
