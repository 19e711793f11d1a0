from buffers import next_power_of_two


def test_zero():
    assert next_power_of_two(0) == 1


def test_negative():
    assert next_power_of_two(-3) == 1


def test_rounds_up_and_keeps_powers():
    assert next_power_of_two(5) == 8
    assert next_power_of_two(1024) == 1024
