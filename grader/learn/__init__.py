"""The learner loop (``python -m grader.learn``): exercises one by one, like rustlings."""
