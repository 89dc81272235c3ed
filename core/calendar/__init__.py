"""The working calendar: public holidays and the weekend days worked in exchange (调休), kept by city staff."""
