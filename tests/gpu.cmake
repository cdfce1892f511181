# gpu tests
