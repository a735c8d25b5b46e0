"""taska, from the original Fusionizer: calls taskb through the server and returns its answer."""


def handler(context, event, requests_session):
    response = requests_session.post(
        f"http://{event.headers['Fusionizer-Server-Address']}:8000/taskb",
        json={"value1": 5, "value2": 3},
    )
    return response.text
